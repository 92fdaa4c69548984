#!/usr/bin/env bash
# A/B of two launchguard builds on the Redis store: both run at once against one local
# redis-server (each under its own guard.redis_prefix) and take turns, admit+settle runs of
# SECONDS alternating for PAIRS pairs, so the load other work puts on this machine falls on
# both alike. bench-guard.sh's Redis/in-process ratio compares runs tens of seconds apart, and
# on a shared machine moves more between runs than a change to the scripts does.
# Prints per run: req/s, p99, and CPU per request of that launchguard and of redis-server;
# then the means and AFTER/BEFORE ratios.
#
#   scripts/bench-guard-ab.sh BEFORE_BIN AFTER_BIN [SECONDS] [CONNECTIONS] [PAIRS]   (5 s, 32, 4)
#
# BEFORE_BIN and AFTER_BIN are release builds, say main's copied aside and this tree's
# (cargo build --release). Needs what bench-guard.sh needs, and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: scripts/bench-guard-ab.sh BEFORE_BIN AFTER_BIN [SECONDS] [CONNECTIONS] [PAIRS]" >&2; exit 2; }
before="$1"; after="$2"
secs="${3:-5}"
conns="${4:-32}"
pairs="${5:-4}"
for t in wrk redis-server redis-cli bc; do
    command -v "$t" >/dev/null || { echo "bench-guard: $t not found (apt-get install -y $t)" >&2; exit 2; }
done

# shellcheck source=scripts/bench-guard-lib.sh
. scripts/bench-guard-lib.sh

echo "bench-guard-ab: $(nproc) cores, wrk -t1 -c$conns, ${secs}s per run, $pairs pairs"
rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.05; done
export REDIS_URL="redis://127.0.0.1:$rport/"
declare -A B P
for v in before after; do
    config "$work/$v.yaml" "  redis_url: \${REDIS_URL}
  redis_prefix: $v"
    if [[ $v == before ]]; then bin="$before"; else bin="$after"; fi
    start "$work/$v.yaml"
    B[$v]="$base"; P[$v]="${pids[-1]}"
    run_wrk "$base/api/v1/guard/admit" 2 settle >/dev/null # warm up
done
ticks="$(getconf CLK_TCK)"
rcpu() { redis-cli -p "$rport" info cpu | sed -n 's/^used_cpu_\(user\|sys\):\([0-9.]*\).*/\2/p' | paste -sd+ | bc; }
pcpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
for i in $(seq 1 "$pairs"); do
    for v in before after; do
        l0="$(pcpu "${P[$v]}")"; r0="$(rcpu)"
        out="$(run_wrk "${B[$v]}/api/v1/guard/admit" "$secs" settle)"
        l1="$(pcpu "${P[$v]}")"; r1="$(rcpu)"
        if [[ "$(field non2xx "$out")" != "0" || "$(field socket_errors "$out")" != "0" ]]; then
            echo "bench-guard-ab: some guard requests failed: $out" >&2; exit 1
        fi
        n="$(field requests "$out")"
        echo "$v rps=$(field rps "$out") p99_ms=$(field p99_ms "$out") launchguard_us_per_req=$(python3 -c "print(round(($l1-$l0)*1e6/$ticks/$n,1))") redis_us_per_req=$(python3 -c "print(round(($r1-$r0)*1e6/$n,1))") load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$work/runs"
    done
done
python3 - "$work/runs" <<'PY'
import sys, statistics as st
runs = {}
for line in open(sys.argv[1]):
    v, *kv = line.split()
    runs.setdefault(v, []).append({k: float(x) for k, x in (p.split("=") for p in kv)})
mean = lambda v, k: st.mean(r[k] for r in runs[v])
for k in ("rps", "p99_ms", "launchguard_us_per_req", "redis_us_per_req"):
    print(f"mean     {k}: before {mean('before', k):.1f}, after {mean('after', k):.1f}, after/before {mean('after', k) / mean('before', k):.2f}")
wins = sum(a["rps"] > b["rps"] for b, a in zip(runs["before"], runs["after"]))
print(f"pairs    after faster in {wins} of {len(runs['after'])}")
PY
