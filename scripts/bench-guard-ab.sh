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

work="$(mktemp -d "${TMPDIR:-/tmp}/launchguard-bench.XXXXXX")"
# Outside $work: PostgreSQL runs as its own user when this runs as root.
dbdir="${TMPDIR:-/tmp}/launchguard-bench-db.$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    LAUNCHGUARD_DEV_DB_DIR="$dbdir" scripts/dev-db.sh destroy >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export LAUNCHGUARD_DEV_DB_DIR="$dbdir"
# The caller token of this run (read by launchguard from the environment, sent by wrk).
LAUNCHGUARD_CALLER_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export LAUNCHGUARD_CALLER_TOKEN
# On a free port, so this never meets another dev database on the default one.
url_line="$(scripts/dev-db.sh start "$(free_port)" | grep '^SUPABASE_DB_URL=' || true)"
[[ -n "$url_line" ]] || { echo "bench-guard: the throwaway database did not start" >&2; exit 1; }
export "${url_line?}"

config() { # $1 file, $2 extra guard lines
    cat > "$1" <<YAML
tier: growth
tiers:
  growth:
    ai_tokens_per_day: 1000000000000
budgets:
  daily_usd: 1000000
  monthly_usd: 1000000
  client_daily_usd: 1000000
database:
  url: \${SUPABASE_DB_URL}
  interval: 5s
guard:
  state_file: $work/state.json
  reservation_ttl: 60s
  caller_token: \${LAUNCHGUARD_CALLER_TOKEN}
  max_reservations: 5000000
  max_reservations_per_client: 5000000
$2
YAML
}

start() { # $1 config; sets $base (no subshell, so the pid stays ours to stop)
    local port; port="$(free_port)"
    "$bin" serve --config "$1" --listen "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
    pids+=("$!")
    base="http://127.0.0.1:$port"
    for _ in $(seq 1 300); do
        if curl -fsS "$base/readyz" >/dev/null 2>&1; then return; fi
        sleep 0.1
    done
    echo "bench-guard: launchguard did not become ready; log:" >&2
    cat "$work/server.log" >&2
    exit 1
}

stop_last() { local p="${pids[-1]}"; kill "$p"; wait "$p" 2>/dev/null || true; unset 'pids[-1]'; }

run_wrk() { # $1 URL, $2 seconds, [$3 lua, or "settle" for admit+settle]; $wrk_conns overrides the connections
    local args=(-t1 -c"${wrk_conns:-$conns}" -d"$2s" --latency) extra=()
    case "${3:-}" in
        "") args+=(-s scripts/bench-guard.lua -H "Authorization: Bearer $LAUNCHGUARD_CALLER_TOKEN") ;;
        settle) args+=(-s scripts/bench-guard.lua -H "Authorization: Bearer $LAUNCHGUARD_CALLER_TOKEN"); extra=(-- settle) ;;
        *) args+=(-s "$3") ;;
    esac
    wrk "${args[@]}" "$1" "${extra[@]}" | grep '^RESULT' | sed 's/^RESULT //'
}
outstanding() { # $1 base URL: reservations outstanding (ai) per the guard's metrics
    curl -fsS "$1/metrics" | sed -n 's/^launchguard_guard_reservations_outstanding{kind="ai"} \([0-9]*\).*/\1/p'
}
judge() { # $1 label, $2 value, $3 ">=" or "<=", $4 target
    local ok; ok="$(python3 -c "print('met' if $2 $3 $4 else 'NOT met')")"
    echo "target   $1: $2 (target $3 $4) $ok"
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

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
