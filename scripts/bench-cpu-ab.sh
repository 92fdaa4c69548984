#!/usr/bin/env bash
# Benchmark: the server's own CPU time per request (utime + stime of the launchguard process over
# a wrk run, divided by the requests served) for /healthz, guard admit+settle and /metrics, and
# its peak RSS, for each build given, taking turns. CPU per request, unlike throughput, hardly
# moves when other work shares the cores, so two builds can be compared on a busy machine.
#
#   scripts/bench-cpu-ab.sh BUILD_A BUILD_B [BUILD_A BUILD_B ...]   (release binaries)
#   SECS=8 scripts/bench-cpu-ab.sh ...
#
# Prints one line per build and route, then "admit+settle / healthz" per build: the share of
# /healthz's throughput an admit could reach if CPU alone set it (issue 17's target is 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: $0 BUILD [BUILD ...]" >&2; exit 2; }
secs="${SECS:-8}"
command -v wrk >/dev/null || { echo "bench-cpu-ab: wrk not found (apt-get install -y wrk)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/launchguard-cpu-ab.XXXXXX")"
# Beside $work, not in it: run as root, the database server runs as postgres.
export LAUNCHGUARD_DEV_DB_DIR="${TMPDIR:-/tmp}/launchguard-cpu-ab-db.$$"
pid=""
cleanup() {
    [[ -n "$pid" ]] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    scripts/dev-db.sh destroy >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

url_line="$(scripts/dev-db.sh start "$(free_port)" 2>/dev/null | grep '^SUPABASE_DB_URL=' || true)"
[[ -n "$url_line" ]] || { echo "bench-cpu-ab: the throwaway database did not start" >&2; exit 1; }
export "${url_line?}"
LAUNCHGUARD_CALLER_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export LAUNCHGUARD_CALLER_TOKEN
cat > "$work/c.yaml" <<YAML
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
YAML
echo 'response = function(status, headers, body) end' > "$work/floor.lua"
auth=(-H "Authorization: Bearer $LAUNCHGUARD_CALLER_TOKEN")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

echo "bench-cpu-ab: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrk -t1, ${secs}s per route"
for bin in "$@"; do
    port="$(free_port)"
    base="http://127.0.0.1:$port"
    rm -f "$work/state.json"
    "$bin" serve --config "$work/c.yaml" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    wrk -t1 -c32 -d2s -s scripts/bench-guard.lua "${auth[@]}" "$base/api/v1/guard/admit" -- settle >/dev/null
    declare -A per=()
    for route in healthz admit metrics; do
        case $route in
            healthz) args=(-c32 -s "$work/floor.lua" "$base/healthz") ;;
            admit) args=(-c32 -s scripts/bench-guard.lua "${auth[@]}" "$base/api/v1/guard/admit" -- settle) ;;
            metrics) args=(-c16 -s "$work/floor.lua" "$base/metrics") ;;
        esac
        before="$(cpu_ticks "$pid")"
        out="$(wrk -t1 -d"${secs}s" "${args[@]}")"
        after="$(cpu_ticks "$pid")"
        n="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<<"$out")"
        [[ -n "$n" && "$n" -gt 0 ]] || { echo "bench-cpu-ab: no requests counted for $route" >&2; exit 1; }
        per[$route]="$(python3 -c "print(f'{($after - $before) * 1e6 / $hz / $n:.1f}')")"
        echo "$(basename "$bin") $route: ${per[$route]} us CPU per request over $n requests"
    done
    echo "$(basename "$bin") admit+settle / healthz by CPU: $(python3 -c "print(f'{${per[healthz]} / ${per[admit]}:.2f}')"); $(grep -E 'VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ')"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done
