#!/usr/bin/env bash
# The 100x growth simulation (issue 17): a day of ledger rows and jobs arriving in compressed
# time, read after every step by the incremental Supabase source and by a full recompute, at 1x
# (the growth tier: 100 clients, 100k ledger rows and 10k jobs a day) and at 100x (10,000
# clients, 10M ledger rows and 1M jobs a day), each in its own fresh database on a throwaway
# PostgreSQL 15 with pg_stat_statements. Prints per step: rows today, cycle time and database
# time of both sources, whether their figures agree exactly (the run stops if not), the /metrics
# size and RSS; then a restart's rebuild time, and the ratios the issue sets as targets.
#
#   scripts/bench-scale.sh            # both scales, 10 steps (~10 minutes on 2 cores)
#   SCALES="1" scripts/bench-scale.sh # the 1x day only
#   STEPS=5 SCALE_100X_ROWS=2000000 scripts/bench-scale.sh   # a lighter 100x
#   BENCH_SCALE_BIN=/tmp/bench_scale.old scripts/bench-scale.sh   # a simulation built before
#                                     # (a copy of target/release/examples/bench_scale), to
#                                     # compare two builds with the same command
#   BENCH_SCALE_FULL=0 SCALES=100 scripts/bench-scale.sh   # no full recompute beside it: the
#                                     # RSS column is then the incremental source's alone
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
STEPS="${STEPS:-10}"
SCALES="${SCALES:-1 100}"
export LAUNCHGUARD_DEV_DB_DIR="${TMPDIR:-/tmp}/launchguard-bench-scale"
export LAUNCHGUARD_DEV_DB_SEED=0
export LAUNCHGUARD_DEV_DB_PRELOAD=pg_stat_statements

if [[ -n "${BENCH_SCALE_BIN:-}" ]]; then
    sim="$BENCH_SCALE_BIN"
else
    cargo build --release --locked --example bench_scale 2>&1 | tail -1
    sim="$repo/target/release/examples/bench_scale"
fi

scripts/dev-db.sh destroy >/dev/null 2>&1 || true
scripts/dev-db.sh start >/dev/null
trap 'scripts/dev-db.sh destroy >/dev/null 2>&1 || true' EXIT
dir="$LAUNCHGUARD_DEV_DB_DIR"
port="$(cat "$dir/port")"
pw="$(cat "$dir/reader_password")"
bindir="${LAUNCHGUARD_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
[[ -x "$bindir/psql" ]] || bindir="$(pg_config --bindir)"
psql_db() { local db="$1"; shift; "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d "$db" "$@"; }

declare -A last first restart resume hwm
for scale in $SCALES; do
    clients=$((100 * scale)); rows=$((100000 * scale)); jobs=$((10000 * scale))
    if [[ "$scale" == 100 && -n "${SCALE_100X_ROWS:-}" ]]; then rows="$SCALE_100X_ROWS"; fi
    db="bench_scale_${scale}x"
    echo "== ${scale}x: $clients clients, $rows ledger rows and $jobs jobs over the day in $STEPS steps"
    psql_db postgres -c "drop database if exists $db" -c "create database $db"
    psql_db "$db" -f tests/fixtures/supabase_platform.sql >/dev/null 2>&1
    for f in deploy/supabase/migrations/*.sql; do psql_db "$db" -f "$f" >/dev/null 2>&1; done
    url_file="$dir/reader_url_$scale"
    (umask 077; echo "postgres://launchguard_reader:$pw@127.0.0.1:$port/$db?sslmode=disable" > "$url_file")
    out="$dir/out_$scale"
    "$sim" "host=$dir/sock port=$port user=postgres dbname=$db" "$url_file" \
        "$clients" "$rows" "$jobs" "$STEPS" | tee "$out"
    first[$scale]="$(awk '/^cycle_ms_first_step/ {print $2}' "$out")"
    last[$scale]="$(awk '/^cycle_ms_last_step/ {print $2}' "$out")"
    restart[$scale]="$(awk '/^restart_ms/ {print $2}' "$out")"
    resume[$scale]="$(awk '/^resume_ms/ {print $2}' "$out")"
    hwm[$scale]="$(awk '/^vmhwm_kb/ {print $2}' "$out")"
    psql_db postgres -c "drop database $db"
done

echo "== summary (targets from issue 17)"
for scale in $SCALES; do
    awk -v s="$scale" -v f="${first[$scale]}" -v l="${last[$scale]}" -v r="${restart[$scale]}" -v m="${resume[$scale]}" -v h="${hwm[$scale]}" 'BEGIN {
        printf "%sx: cycle at the end of the day %.1f ms, at its first step %.1f ms: ratio %.2f (target <= 2, and under 1 s)\n", s, l, f, l / f
        printf "%sx: first cycle after a restart %.1f ms with the state file; %.1f ms to rebuild without it\n", s, m, r
        printf "%sx: peak RSS of the simulation process %d kB\n", s, h
    }'
done
if [[ -n "${resume[1]:-}" && -n "${resume[100]:-}" ]]; then
    awk -v a="${resume[1]}" -v b="${resume[100]}" -v c="${restart[1]}" -v d="${restart[100]}" 'BEGIN {
        printf "first cycle after start, 100x ledger over 1x: %.2f with the state file (target <= 2); %.2f rebuilding without it\n", b / a, d / c }'
fi
