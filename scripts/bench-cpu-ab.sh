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

conns=32
# shellcheck source=scripts/bench-guard-lib.sh
. scripts/bench-guard-lib.sh
config "$work/c.yaml" ""
echo 'response = function(status, headers, body) end' > "$work/floor.lua"
auth=(-H "Authorization: Bearer $LAUNCHGUARD_CALLER_TOKEN")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

echo "bench-cpu-ab: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrk -t1, ${secs}s per route"
for bin in "$@"; do
    rm -f "$work/state.json"
    start "$work/c.yaml"
    pid="${pids[-1]}"
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
    stop_last
done
