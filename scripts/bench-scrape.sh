#!/usr/bin/env bash
# Scrape benchmark (issue 17, "scrape at the limit"), every ratio from one run on this machine,
# with 100 clients x 6 providers x 3 models in the labels (a real PostgreSQL behind it):
#  1. launchguard /metrics against nginx serving the very same bytes (fetched once from the
#     exporter into a file): ratio >= 0.9. The same with `Accept-Encoding: gzip` against
#     nginx's gzip_static serving those bytes compressed (no target, reported).
#  2. /metrics with the guard on against the guard off: ratio >= 0.95.
#  3. Peak resident memory (VmHWM) of the exporter under the scrape load: <= 15 MB.
#  Also reported: the minimal hyper server (examples/static_metrics.rs) on the same bytes.
#
#   scripts/bench-scrape.sh                     # DURATION=10s CONNS=16 ROUNDS=3 by default
#   DURATION=5s ROUNDS=5 scripts/bench-scrape.sh
# Needs wrk and nginx-light (installed by this script when missing: a benchmark tool, not a
# test dependency). scripts/bench-exporter.sh runs this as its first part.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-16}"
ROUNDS="${ROUNDS:-3}"
export LAUNCHGUARD_DEV_DB_DIR="${LAUNCHGUARD_DEV_DB_DIR:-${TMPDIR:-/tmp}/launchguard-bench-db}"
export LAUNCHGUARD_DEV_DB_SEED=0

command -v wrk >/dev/null || scripts/install-deps.sh
if ! command -v nginx >/dev/null; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    # Installed for its binary only: no service is started (policy-rc.d refuses).
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee $policy >/dev/null
        "${sudo[@]}" chmod +x $policy
        created_policy=1
    fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends nginx-light
    [[ $created_policy -eq 1 ]] && "${sudo[@]}" rm -f $policy
fi
# LAUNCHGUARD_BIN (and STATIC_BIN): builds made earlier, e.g. main's for a before/after; nothing
# is built then.
if [[ -z "${LAUNCHGUARD_BIN:-}" ]]; then
    cargo build --release --locked --bin launchguard --example static_metrics 2>&1 | tail -1
fi
bin="${LAUNCHGUARD_BIN:-$repo/target/release/launchguard}"
static="${STATIC_BIN:-$repo/target/release/examples/static_metrics}"

scripts/dev-db.sh start >/dev/null
dir="$LAUNCHGUARD_DEV_DB_DIR"
port="$(cat "$dir/port")"
pw="$(cat "$dir/reader_password")"
bindir="${LAUNCHGUARD_PG_BINDIR:-/usr/lib/postgresql/15/bin}"
psql_db() { local db="$1"; shift; "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$port" -U postgres -d "$db" "$@"; }
url() { echo "postgres://launchguard_reader:$pw@127.0.0.1:$port/$1?sslmode=disable"; }

# A ledger whose labels are 100 clients x 6 providers x 3 models today.
psql_db postgres -c "drop database if exists bench_labels" -c "create database bench_labels"
for f in deploy/supabase/migrations/*.sql; do psql_db bench_labels -f "$f" 2>/dev/null; done
psql_db bench_labels <<'SQL'
insert into clients (id, name, status)
select ('30000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 'client ' || n, 'active'
from generate_series(1, 100) n;
insert into ai_usage_events (occurred_at, client_id, provider, model, input_tokens, output_tokens,
                             cache_read_tokens, cache_write_tokens, characters, requests)
select date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' + interval '1 second',
       ('30000000-0000-4000-8000-' || lpad(c::text, 12, '0'))::uuid,
       p, p || '-model-' || m, 1000 * c, 100 * m, 10, 5, 0, 1
from generate_series(1, 100) c,
     unnest(array['anthropic','openai','gemini','openrouter','elevenlabs','perplexity']) p,
     generate_series(1, 3) m;
vacuum analyze;
SQL

work="$(mktemp -d)"
pids=()
# The exporters start in command substitutions, so `jobs` does not list them: kill by pid.
trap 'kill "${pids[@]}" $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'database:\n  interval: 1s\n  timeout: 20s\n' > "$work/off.yaml"
cat > "$work/on.yaml" <<YAML
database:
  interval: 1s
  timeout: 20s
guard:
  enabled: true
  caller_token: file:$work/caller_token
  admin_token: file:$work/admin_token
  state_file: $work/guard-state.json
YAML
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$work/caller_token"
head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$work/admin_token"
chmod 600 "$work/caller_token" "$work/admin_token"

start_exporter() { # config listen-port
    SUPABASE_DB_URL="$(url bench_labels)" "$bin" serve --config "$work/$1.yaml" --listen "127.0.0.1:$2" \
        >/dev/null 2>"$work/$1.log" &
    echo $!
}
wait_up() { # listen-port
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$1/metrics" | grep -q 'launchguard_source_up{source="supabase"} 1' && return 0
        sleep 0.2
    done
    echo "exporter on $1 never came up" >&2; return 1
}
hwm_kb() { awk '/VmHWM/ { print $2 }' "/proc/$1/status"; }
rps() { wrk -t2 -c"$CONNS" -d"$DURATION" "$@" | awk '/Requests\/sec/ { print $2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gz=(-H 'Accept-Encoding: gzip')

off="$(start_exporter off 18921)"
on="$(start_exporter on 18922)"
pids+=("$off" "$on")
wait_up 18921
wait_up 18922
grep -q '^launchguard_guard_store_up' <(curl -s http://127.0.0.1:18922/metrics) \
    || { echo "the guard is not on in the guard-on exporter" >&2; exit 1; }

# The very same bytes, served by nginx (plain, and gzip_static for Accept-Encoding: gzip) and by
# the minimal hyper server.
mkdir -p "$work/www"
# nginx's workers run as nobody when started by root.
chmod 755 "$work" "$work/www"
curl -s http://127.0.0.1:18921/metrics > "$work/www/metrics"
gzip -1 -k "$work/www/metrics"
cat > "$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx-tmp;
    types { }
    default_type "application/openmetrics-text; version=1.0.0; charset=utf-8";
    server {
        listen 127.0.0.1:18923;
        root $work/www;
        gzip_static on;
    }
}
NGINX
nginx -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon off;' & ngx=$!
"$static" "$work/www/metrics" 127.0.0.1:18924 >/dev/null 2>&1 & spid=$!
for _ in $(seq 1 50); do curl -sf -o /dev/null http://127.0.0.1:18924/ && curl -sf -o /dev/null http://127.0.0.1:18923/metrics && break; sleep 0.1; done
curl -s http://127.0.0.1:18923/metrics | cmp -s - "$work/www/metrics" || { echo "nginx serves other bytes" >&2; exit 1; }
curl -s "${gz[@]}" http://127.0.0.1:18923/metrics | gunzip | cmp -s - "$work/www/metrics" \
    || { echo "nginx serves no gzip" >&2; exit 1; }
curl -s "${gz[@]}" -o /dev/null -w '%{size_download}\n' http://127.0.0.1:18921/metrics > "$work/lg-gzip-size"
curl -s http://127.0.0.1:18924/ | cmp -s - "$work/www/metrics" || { echo "the hyper baseline serves other bytes" >&2; exit 1; }

echo
echo "== /metrics throughput (wrk -t2 -c$CONNS -d$DURATION, $ROUNDS rounds), $(wc -c < "$work/www/metrics") bytes, $(grep -vc '^#' "$work/www/metrics") series"
echo "   nginx gzip_static serves $(wc -c < "$work/www/metrics.gz") bytes, launchguard gzip $(cat "$work/lg-gzip-size") bytes"
# Each round measures every server back to back and takes its ratios within the round, so a
# change in the machine's load between rounds moves both sides; the median round is reported.
printf '%-6s %9s %9s %9s %9s %9s %9s | %6s %6s %6s %6s\n' round nginx lg-off lg-on hyper nginx-gz lg-gz \
    lg/ngx on/off gz/gz lg/hyp
: > "$work/rounds"
for r in $(seq 1 "$ROUNDS"); do
    nginx_rps="$(rps http://127.0.0.1:18923/metrics)"
    off_rps="$(rps http://127.0.0.1:18921/metrics)"
    on_rps="$(rps http://127.0.0.1:18922/metrics)"
    hyper_rps="$(rps http://127.0.0.1:18924/metrics)"
    nginx_gz="$(rps "${gz[@]}" http://127.0.0.1:18923/metrics)"
    off_gz="$(rps "${gz[@]}" http://127.0.0.1:18921/metrics)"
    line="$(ratio "$off_rps" "$nginx_rps") $(ratio "$on_rps" "$off_rps") $(ratio "$off_gz" "$nginx_gz") $(ratio "$off_rps" "$hyper_rps")"
    echo "$line" >> "$work/rounds"
    printf '%-6s %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f | %6s %6s %6s %6s\n' "$r" "$nginx_rps" "$off_rps" "$on_rps" \
        "$hyper_rps" "$nginx_gz" "$off_gz" $line
done
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
col() { awk -v c="$1" '{ print $c }' "$work/rounds" | median; }
mem_off="$(hwm_kb "$off")"
mem_on="$(hwm_kb "$on")"
echo
echo "median ratio launchguard / nginx        = $(col 1) (target >= 0.90)"
echo "median ratio guard on / guard off       = $(col 2) (target >= 0.95)"
echo "median ratio launchguard / nginx, gzip  = $(col 3)"
echo "median ratio launchguard / minimal hyper = $(col 4)"
# What the peak is made of: anonymous memory (heap, arenas, stacks, buffers) against pages of
# the binary and its libraries mapped from the page cache.
split() { awk '/RssAnon|RssFile/ { printf "%s %s kB ", $1, $2 }' "/proc/$1/status"; }
echo "resident after the load: guard off $(split "$off"), guard on $(split "$on")"
echo "peak RSS under the scrape load: guard off $((mem_off / 1024)) MB ($mem_off kB), guard on $((mem_on / 1024)) MB ($mem_on kB) (target <= 15 MB)"
# For scripts/bench-exporter.sh: the larger of the two peaks, in kB.
[[ -z "${RSS_OUT:-}" ]] || echo $((mem_on > mem_off ? mem_on : mem_off)) > "$RSS_OUT"
