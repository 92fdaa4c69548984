#!/usr/bin/env bash
# Benchmark: does one collection cycle cost the same with a year of ledger history as with a
# little? Builds two databases with the launchguard migrations and a generated ledger of
# SMALL (default 100,000) and BIG (default 10,000,000) rows, each with the SAME rows today
# (TODAY, default 30,000) and the rest spread over the previous 365 days, then prints
# EXPLAIN (ANALYZE, BUFFERS) of USAGE for today's range on both, pgbench timings of one cycle's
# ledger/job/traffic queries, and the ratio BIG / SMALL.
#
#   scripts/bench-ledger.sh            # uses a throwaway server from scripts/dev-db.sh
#   SMALL=100000 BIG=10000000 TODAY=30000 scripts/bench-ledger.sh
#   scripts/bench-ledger.sh --keep     # keep the server (default: leave it running; `destroy` it)
#
# The server lives in ${TMPDIR:-/tmp}/launchguard-bench-db; remove it with
#   LAUNCHGUARD_DEV_DB_DIR=${TMPDIR:-/tmp}/launchguard-bench-db scripts/dev-db.sh destroy
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
SMALL="${SMALL:-100000}"
BIG="${BIG:-10000000}"
TODAY="${TODAY:-30000}"
TX="${TX:-200}"   # pgbench transactions per measurement
export LAUNCHGUARD_DEV_DB_DIR="${LAUNCHGUARD_DEV_DB_DIR:-${TMPDIR:-/tmp}/launchguard-bench-db}"
export LAUNCHGUARD_DEV_DB_SEED=0

"$here/dev-db.sh" start >/dev/null
dir="$LAUNCHGUARD_DEV_DB_DIR"
port="$(cat "$dir/port")"
bindir="${LAUNCHGUARD_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
[[ -x "$bindir/psql" ]] || bindir="$(pg_config --bindir)"
psql_db() { local db="$1"; shift; "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d "$db" "$@"; }

build() {
    local db="$1" rows="$2"
    echo "== building $db: $rows ledger rows ($TODAY today)" >&2
    psql_db postgres -c "drop database if exists $db" -c "create database $db"
    for f in "$repo"/deploy/supabase/migrations/*.sql; do psql_db "$db" -f "$f" 2>/dev/null; done
    psql_db "$db" <<SQL
insert into public.clients (id, name, status)
select ('20000000-0000-4000-8000-00000000000' || n)::uuid, 'bench client ' || n, 'active'
from generate_series(1, 8) n;
-- Load without the covering index, then build it once (same definition: re-apply the migration).
drop index public.ai_usage_events_occurred_at_idx;
create temp table anchor as
select now() as t_now, date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' as day_start;
-- today: $TODAY rows evenly over [midnight UTC, now)
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
select a.day_start + (a.t_now - a.day_start) * (i::float8 / ($TODAY + 1)),
       ('20000000-0000-4000-8000-00000000000' || (1 + i % 8))::uuid,
       (array['anthropic','openai','gemini','openrouter','elevenlabs','perplexity'])[1 + i % 6],
       (array['claude-sonnet-4-5','gpt-4o','gemini-2.5-flash','meta-llama/llama-3.3-70b-instruct',
              'eleven_multilingual_v2','sonar'])[1 + i % 6],
       1000 + i % 500, 200 + i % 300, case when i % 3 = 0 then 4000 else 0 end,
       case when i % 10 = 0 then 1500 else 0 end, case when i % 6 = 4 then 1200 else 0 end, 1,
       case when i % 6 = 3 then 0.002 end
from anchor a, generate_series(1, $TODAY) i;
-- history: the rest evenly over the 365 days before today
insert into public.ai_usage_events
    (occurred_at, client_id, provider, model, input_tokens, output_tokens,
     cache_read_tokens, cache_write_tokens, characters, requests, cost_usd)
select a.day_start - interval '365 days' + interval '365 days' * (i::float8 / ($rows - $TODAY + 1)),
       null,
       (array['anthropic','openai','gemini','openrouter','elevenlabs','perplexity'])[1 + i % 6],
       (array['claude-sonnet-4-5','gpt-4o','gemini-2.5-flash','meta-llama/llama-3.3-70b-instruct',
              'eleven_multilingual_v2','sonar'])[1 + i % 6],
       1000 + i % 500, 200 + i % 300, case when i % 3 = 0 then 4000 else 0 end,
       case when i % 10 = 0 then 1500 else 0 end, case when i % 6 = 4 then 1200 else 0 end, 1,
       case when i % 6 = 3 then 0.002 end
from anchor a, generate_series(1, $rows - $TODAY) i;
-- jobs: rows/10 finished jobs over the year, 200 visual jobs today (some failed in the last
-- hour), a few waiting and running
insert into public.jobs (kind, status, created_at, started_at, finished_at)
select (array['visual','email','sync'])[1 + i % 3], case when i % 20 = 0 then 'failed' else 'succeeded' end,
       c, c + interval '5 seconds', c + interval '50 seconds'
from anchor a, generate_series(1, $rows / 10) i,
     lateral (select a.day_start - interval '365 days' + interval '365 days' * (i::float8 / ($rows / 10 + 1)) as c) t;
insert into public.jobs (kind, status, created_at, started_at, finished_at)
select 'visual', case when i % 10 = 0 then 'failed' else 'succeeded' end, c, c + interval '5 seconds', c + interval '40 seconds'
from anchor a, generate_series(1, 200) i,
     lateral (select a.day_start + (a.t_now - interval '1 minute' - a.day_start) * (i::float8 / 201) as c) t;
insert into public.jobs (kind, status, created_at, started_at)
select (array['visual','email','sync'])[1 + i % 3], case when i % 4 = 0 then 'running' else 'queued' end,
       a.t_now - make_interval(secs => i), case when i % 4 = 0 then a.t_now end
from anchor a, generate_series(1, 40) i;
-- traffic: every minute of the past year
insert into public.http_traffic_minutely (bucket, requests, errors, bytes_out, p95_ms, lat_le_100, lat_le_250)
select b, 40, 1, 2000000, 300, 30, 10
from anchor a, generate_series(date_trunc('minute', a.t_now) - interval '365 days',
                               date_trunc('minute', a.t_now), interval '1 minute') b;
SQL
    psql_db "$db" -f "$repo/deploy/supabase/migrations/20261126000001_launchguard_schema.sql" 2>/dev/null
    # VACUUM sets the visibility map, so the covering index gives index-only scans. A concurrent
    # autovacuum ANALYZE holds back the xmin horizon, so retry until the pages are all-visible.
    local attempt visible
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        psql_db "$db" -c "vacuum (analyze) public.ai_usage_events" -c "vacuum (analyze) public.jobs" \
            -c "vacuum (analyze) public.http_traffic_minutely"
        visible="$(psql_db "$db" -A -t -c "select relallvisible >= 0.99 * relpages from pg_class where oid = 'public.ai_usage_events'::regclass")"
        [[ "$visible" == t ]] && break
        sleep 2
    done
    echo "   all-visible after $attempt vacuum(s): $visible" >&2
}

# The per-cycle queries, with "now" and "today" as the exporter binds them (UTC day).
q() {
    awk -v name="$1" '
        index($0, "pub const " name ": &str = \"") == 1 { on = 1; next }
        on && /";$/ { sub(/";$/, ""); print; exit }
        on { print }' "$repo/src/sources/supabase/queries.rs" | sed 's/\\"/"/g'
}
DAY="(date_trunc('day', now() at time zone 'UTC') at time zone 'UTC')"
# bind NAME [P1] [P2]: the query with $1 / $2 replaced by SQL expressions
bind() { q "$1" | sed "s/\\\$1::timestamptz/${2:-}/g; s/\\\$2::timestamptz/${3:-}/g"; }
usage_today="$(bind USAGE "$DAY" "now()")"
cycle="$dir/cycle.sql"
{
    echo "$usage_today;"
    bind USAGE "(now() - interval '15 minutes')" "now()"; echo ";"
    q ACTIVE_CLIENTS; echo ";"
    bind JOBS "$DAY" "now()"; echo ";"
    bind TRAFFIC "now()"; echo ";"
    bind BANDWIDTH "$DAY"; echo ";"
} > "$cycle"

build bench_small "$SMALL"
build bench_big "$BIG"

declare -A ms
for db in bench_small bench_big; do
    echo
    echo "== $db: EXPLAIN (ANALYZE, BUFFERS) of USAGE for today"
    psql_db "$db" -c "select count(*) as ledger_rows from public.ai_usage_events"
    psql_db "$db" -c "explain (analyze, buffers, costs off) $usage_today"
    if [[ "$db" == bench_big ]]; then
        for name in JOBS TRAFFIC BANDWIDTH; do
            echo "== $db: EXPLAIN (ANALYZE, BUFFERS) of $name"
            if [[ $name == TRAFFIC ]]; then sql="$(bind TRAFFIC "now()")"; else sql="$(bind "$name" "$DAY" "now()")"; fi
            psql_db "$db" -c "explain (analyze, buffers, costs off) $sql"
        done
    fi
    echo "== $db: pgbench, one cycle (USAGE today, USAGE last 15 min, ACTIVE_CLIENTS, JOBS, TRAFFIC, BANDWIDTH) x $TX"
    out="$("$bindir/pgbench" -n -h "$dir/sock" -p "$port" -U postgres -M prepared -t "$TX" -f "$cycle" "$db" 2>&1)"
    echo "$out" | grep -E "latency average|tps"
    ms[$db]="$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')"
done
echo
echo "cycle latency: small ${ms[bench_small]} ms, big ${ms[bench_big]} ms, ratio big/small = $(awk -v a="${ms[bench_big]}" -v b="${ms[bench_small]}" 'BEGIN { printf "%.2f", a / b }')"
