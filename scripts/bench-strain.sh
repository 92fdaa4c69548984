#!/usr/bin/env bash
# Benchmarks of `launchguard strain` against one trivial loopback target (examples/bench_target),
# each printed as a ratio against a baseline measured in the same run:
#   1. maximum request rate vs wrk, same target, same connections, keep-alive, HTTP/1.1
#      (target: >= 90% of wrk);
#   2. rate accuracy at a fixed 1,000 req/s for 30 s (target: achieved within 1%);
#   3. memory over a 5-minute run at a fixed rate: RSS samples and last/first (target: flat).
# Usage: scripts/bench-strain.sh [--quick]   (--quick: 5 s max-rate runs, 10 s accuracy, 60 s soak)
# Needs: wrk (Debian package), python3. Only 127.0.0.1 is loaded; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
MAX_SECS=10; ACC_SECS=30; SOAK_SECS=300; REPEATS=3
if [ "$QUICK" = 1 ]; then MAX_SECS=5; ACC_SECS=10; SOAK_SECS=60; REPEATS=2; fi
CONNS=${CONNS:-64}
TARGET_THREADS=${TARGET_THREADS:-1}
SOAK_RATE=${SOAK_RATE:-2000}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
cargo build --release --locked --bin launchguard --example bench_target >&2
BIN=target/release/launchguard
WORK=$(mktemp -d)
TARGET_PID=""
cleanup() { [ -n "$TARGET_PID" ] && kill "$TARGET_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

target/release/examples/bench_target 127.0.0.1:0 "$TARGET_THREADS" >"$WORK/addr" &
TARGET_PID=$!
for _ in $(seq 50); do [ -s "$WORK/addr" ] && break; sleep 0.1; done
ADDR=$(cat "$WORK/addr")
URL="http://$ADDR"
echo "target: $URL (bench_target, $TARGET_THREADS thread); machine: $(nproc) cores"

# One scenario with a rate far above what the machine can do: the achieved rate is the maximum.
config() { # rate connections
  cat <<EOF
strain:
  rate_cap: 100000000
  max_requests: 1000000000
  max_connections: 4096
  thresholds:
    memory_ratio: 1.0
  scenarios:
    ai_load:
      rate: $1
      connections: $2
      requests:
        - path: /
EOF
}

# Runs launchguard strain; prints "send_rate achieved_rate sent late dropped errors p50 p99".
lg_run() { # rate connections seconds
  config "$1" "$2" >"$WORK/cfg.yaml"
  rm -rf "$WORK/reports"
  "$BIN" strain --base-url "$URL" --config "$WORK/cfg.yaml" --report-dir "$WORK/reports" \
    --scenario ai_load --duration "$3s" >/dev/null 2>"$WORK/lg.err" || true
  python3 - "$WORK/reports" <<'PY'
import json, os, sys
d = sys.argv[1]
r = json.load(open(os.path.join(d, sorted(os.listdir(d))[-1])))
s = r["scenarios"][0]["stats"]; c = s["counts"]; q = s["latency_ms"]["raw"]
print(f'{s["send_rate"]:.1f} {s["achieved_rate"]:.1f} {c["sent"]} {c["late"]} {c["dropped"]} '
      f'{c["status_errors"] + c["transport_errors"] + c["timeouts"]} {q["p50"]:.3f} {q["p99"]:.3f}')
PY
}

wrk_run() { # connections seconds -> requests/s
  wrk -t2 -c"$1" -d"$2s" "$URL/" | awk '/Requests\/sec/ {print $2}'
}

echo
echo "== 1. maximum request rate, $CONNS connections, ${MAX_SECS}s per run, $REPEATS runs each =="
best_wrk=0; best_lg=0; ratios=()
for i in $(seq "$REPEATS"); do
  w=$(wrk_run "$CONNS" "$MAX_SECS")
  read -r send ach sent late dropped errs p50 p99 < <(lg_run 10000000 "$CONNS" "$MAX_SECS")
  r=$(python3 -c "print(f'{100*$ach/$w:.1f}')")
  ratios+=("$r")
  echo "run $i: wrk ${w} req/s | launchguard ${ach} req/s answered (${send} sent, errors $errs, raw p50 ${p50} ms p99 ${p99} ms) = ${r}% of wrk"
  best_wrk=$(python3 -c "print(max($best_wrk, $w))")
  best_lg=$(python3 -c "print(max($best_lg, $ach))")
done
python3 -c "
import statistics
r = [$(IFS=,; echo "${ratios[*]}")]
print(f'best of $REPEATS: launchguard $best_lg / wrk $best_wrk = {100*$best_lg/$best_wrk:.1f}%; median of the paired runs {statistics.median(r):.1f}% (target >= 90%)')"

echo
echo "== 2. rate accuracy at 1000 req/s for ${ACC_SECS}s =="
read -r send ach sent late dropped errs p50 p99 < <(lg_run 1000 256 "$ACC_SECS")
python3 -c "
send, ach, target = $send, $ach, 1000.0
print(f'sent {send:.1f} req/s ({100*(send-target)/target:+.2f}%), answered {ach:.1f} req/s ({100*(ach-target)/target:+.2f}%), '
      f'$sent requests, late $late, dropped $dropped, errors $errs (target: within 1%)')"

echo
echo "== 3. memory over ${SOAK_SECS}s at ${SOAK_RATE} req/s (RSS of launchguard, every 10 s) =="
config "$SOAK_RATE" 256 >"$WORK/cfg.yaml"
rm -rf "$WORK/reports"
"$BIN" strain --base-url "$URL" --config "$WORK/cfg.yaml" --report-dir "$WORK/reports" \
  --scenario ai_load --duration "${SOAK_SECS}s" >/dev/null 2>"$WORK/soak.err" &
LG=$!
samples=()
sleep 5
while kill -0 "$LG" 2>/dev/null; do
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$LG/status" 2>/dev/null || true)
  [ -n "$rss" ] && samples+=("$rss") && echo "t=$(( ${#samples[@]} * 10 - 5 ))s rss=${rss} kB"
  sleep 10
done
wait "$LG" || true
python3 - "${samples[@]}" <<'PY'
import sys
s = [int(x) for x in sys.argv[1:]]
if len(s) >= 2:
    print(f"samples {len(s)}: first {s[0]} kB, max {max(s)} kB, last {s[-1]} kB, last/first = {s[-1]/s[0]:.3f}")
PY
python3 - "$WORK/reports" <<'PY'
import json, os, sys
d = sys.argv[1]
r = json.load(open(os.path.join(d, sorted(os.listdir(d))[-1])))
s = r["scenarios"][0]["stats"]
print(f'soak: {s["counts"]["sent"]} requests, achieved {s["achieved_rate"]:.1f} req/s')
PY
