#!/usr/bin/env bash
# Exporter benchmarks (issue: exporter core), all in one run on this machine:
#  1. scripts/bench-scrape.sh: /metrics throughput with 100 clients x 6 providers x 3 models in
#     the labels against nginx serving the same bytes (>= 0.9), guard on / off (>= 0.95), and
#     the peak RSS under that load (<= 15 MB).
#  2. One collection cycle against a ledger of 10M rows and one of 100k rows with the same rows
#     today (scripts/bench-ledger.sh builds both): median steady-state cycle time, ratio <= 2.
#     Then the exporter restarts with the ledger state file its cycles wrote: the first cycle
#     after that restart on both ledgers, ratio <= 2 (the issue's "first cycle after start").
#  3. Resident memory of the exporter (VmHWM, the peak) under both loads: < 30 MB.
#
#   scripts/bench-exporter.sh                 # full run (builds the ledgers: ~2-3 minutes)
#   SKIP_LEDGER=1 scripts/bench-exporter.sh   # reuse ledgers built by an earlier run
#   SKIP_SCRAPE=1 scripts/bench-exporter.sh   # only the collection cycles (2.)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-16}"
export LAUNCHGUARD_DEV_DB_DIR="${LAUNCHGUARD_DEV_DB_DIR:-${TMPDIR:-/tmp}/launchguard-bench-db}"
export LAUNCHGUARD_DEV_DB_SEED=0

command -v wrk >/dev/null || scripts/install-deps.sh
cargo build --release --locked --bin launchguard 2>&1 | tail -1
bin="$repo/target/release/launchguard"

if [[ -z "${SKIP_LEDGER:-}" ]]; then
    scripts/bench-ledger.sh
else
    scripts/dev-db.sh start >/dev/null
fi
dir="$LAUNCHGUARD_DEV_DB_DIR"
port="$(cat "$dir/port")"
pw="$(cat "$dir/reader_password")"
bindir="${LAUNCHGUARD_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
psql_db() { local db="$1"; shift; "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d "$db" "$@"; }
url() { echo "postgres://launchguard_reader:$pw@127.0.0.1:$port/$1?sslmode=disable"; }

work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

start_exporter() { # db listen-port
    printf 'database:\n  interval: 1s\n  timeout: 20s\n  state_file: %s\n' "$work/$1-state.json" \
        > "$work/$1.yaml"
    SUPABASE_DB_URL="$(url "$1")" "$bin" serve --config "$work/$1.yaml" --listen "127.0.0.1:$2" \
        >/dev/null 2>>"$work/$1.log" &
    echo $!
}
wait_up() { # listen-port
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$1/metrics" | grep -q 'launchguard_source_up{source="supabase"} 1' && return 0
        sleep 0.2
    done
    echo "exporter on $1 never came up" >&2; return 1
}
# The supabase source's cycle durations as the exporter publishes them, one per new value.
cycle_durations() { # listen-port how-many
    local last="" n=0 d
    for _ in $(seq 1 60); do
        d="$(curl -s "http://127.0.0.1:$1/metrics" | awk -F' ' '/^launchguard_source_collect_duration_seconds\{source="supabase"\}/ { print $2 }')"
        if [[ -n "$d" && "$d" != "$last" ]]; then echo "$d"; last="$d"; n=$((n + 1)); fi
        [[ $n -ge $2 ]] && return 0
        sleep 0.5
    done
}
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }

mem_labels=""
if [[ -z "${SKIP_SCRAPE:-}" ]]; then
    echo
    echo "== 1. /metrics against nginx serving the same bytes, guard on/off, RSS (scripts/bench-scrape.sh)"
    RSS_OUT="$work/scrape-rss" DURATION="$DURATION" CONNS="$CONNS" scripts/bench-scrape.sh
    mem_labels="$(cat "$work/scrape-rss")"
fi

echo
echo "== 2. collection cycle: 100k vs 10M ledger rows, same rows today"
declare -A med first mem resumed
for db in bench_small bench_big; do
    rm -f "$work/$db-state.json"
    pid="$(start_exporter "$db" 18913)"
    wait_up 18913
    mapfile -t durations < <(cycle_durations 18913 16)
    first[$db]="${durations[0]}"
    med[$db]="$(printf '%s\n' "${durations[@]:1}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
    mem[$db]="$(hwm_kb "$pid")"
    rows="$(psql_db "$db" -A -t -c 'select count(*) from ai_usage_events')"
    # The state file is written once every slice is built, then at most once a minute.
    for _ in $(seq 1 100); do [[ -s "$work/$db-state.json" ]] && break; sleep 0.2; done
    [[ -s "$work/$db-state.json" ]] || { echo "$db: no state file was written" >&2; exit 1; }
    kill "$pid"; wait "$pid" 2>/dev/null || true
    pid="$(start_exporter "$db" 18913)"
    wait_up 18913
    resumed[$db]="$(cycle_durations 18913 1)"
    grep -q "resumes from the state file" "$work/$db.log" || { echo "$db: the restart did not resume from the state file" >&2; exit 1; }
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$db ($rows rows): first cycle ${first[$db]} s (reads this month's closed days), median of the next $(( ${#durations[@]} - 1 )) cycles ${med[$db]} s, first cycle after a restart with the state file ${resumed[$db]} s, peak RSS $(( ${mem[$db]} / 1024 )) MB"
done
echo "ratio big / small (steady-state median) = $(awk -v a="${med[bench_big]}" -v b="${med[bench_small]}" 'BEGIN { printf "%.2f", a / b }') (target <= 2)"
echo "ratio big / small (first cycle after a restart with the state file) = $(awk -v a="${resumed[bench_big]}" -v b="${resumed[bench_small]}" 'BEGIN { printf "%.2f", a / b }') (target <= 2)"
echo "ratio big / small (first cycle ever, no state file) = $(awk -v a="${first[bench_big]}" -v b="${first[bench_small]}" 'BEGIN { printf "%.2f", a / b }')"
echo
[[ -z "$mem_labels" ]] || echo "peak RSS under the scrape load: $((mem_labels / 1024)) MB"
echo "peak RSS: 10M ledger $(( ${mem[bench_big]} / 1024 )) MB (target < 30 MB)"
