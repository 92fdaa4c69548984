#!/usr/bin/env bash
# Guard admission benchmark on loopback (release build, wrk + scripts/bench-guard.lua):
#   1. /metrics with the guard off and on (the guard's family is encoded at scrape time);
#   2. admits against one process with in-process reservations, next to /healthz on the same
#      server as the baseline of this machine at this moment;
#   3. the same with reservations in a local redis-server, as a ratio to (2);
#   4. the same on a Redis Cluster (six redis-server nodes: three masters with a replica each,
#      guard.redis_cluster), through one launchguard and then through two sharing it (two wrk
#      at once, half the connections each, their admits/s summed), as ratios to (2).
# The snapshot comes from a throwaway seeded PostgreSQL (scripts/dev-db.sh). Every admit is
# allowed (budgets at their bound of $1,000,000, reservation caps out of reach), so each one
# runs the rules and reserves; each carries the caller token, as the platform's calls do.
#
#   scripts/bench-guard.sh [SECONDS] [CONNECTIONS]      (default 15 s, 32 connections)
#
# wrk is closed-loop: its latencies are per request as served, not corrected for
# coordinated omission. Needs: wrk, redis-server, redis-tools, postgresql-15, postgresql-15-cron.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"
conns="${2:-32}"
for t in wrk redis-server redis-cli; do
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

cargo build --release --locked --quiet
bin=target/release/launchguard

export LAUNCHGUARD_DEV_DB_DIR="$dbdir"
# The caller token of this run (read by launchguard from the environment, sent by wrk).
LAUNCHGUARD_CALLER_TOKEN="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export LAUNCHGUARD_CALLER_TOKEN
url_line="$(scripts/dev-db.sh start | grep '^SUPABASE_DB_URL=' || true)"
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

run_wrk() { # $1 URL, $2 seconds, [$3 lua]; $wrk_conns overrides the connections
    local args=(-t1 -c"${wrk_conns:-$conns}" -d"$2s" --latency)
    if [[ -n "${3:-}" ]]; then args+=(-s "$3"); else args+=(-s scripts/bench-guard.lua -H "Authorization: Bearer $LAUNCHGUARD_CALLER_TOKEN"); fi
    wrk "${args[@]}" "$1" | grep '^RESULT' | sed 's/^RESULT //'
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "bench-guard: $(nproc) cores, wrk -t1 -c$conns, ${secs}s per run, release build"

# 1. /metrics: the guard's family encoded at scrape time, against the published bytes alone.
cat > "$work/get.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f requests=%d non2xx=%d socket_errors=0\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests, summary.errors.status))
end
LUA
config "$work/off.yaml" "  enabled: false"
start "$work/off.yaml"
m_off="$(run_wrk "$base/metrics" 5 "$work/get.lua")"
stop_last
config "$work/mem.yaml" ""
start "$work/mem.yaml"
m_on="$(run_wrk "$base/metrics" 5 "$work/get.lua")"
echo "metrics  guard off: $m_off"
echo "metrics  guard on:  $m_on"
echo "metrics  on/off throughput ratio: $(ratio "$(field rps "$m_on")" "$(field rps "$m_off")")"

# 2. Admits, in-process reservations, against the same server's /healthz (the HTTP stack and
# this machine's current noise floor, measured in the same run).
hz="$(run_wrk "$base/healthz" 5 "$work/get.lua")"
echo "healthz  baseline:  $hz"
run_wrk "$base/api/v1/guard/admit" 2 >/dev/null # warm up
mem="$(run_wrk "$base/api/v1/guard/admit" "$secs")"
echo "admit    memory:    $mem"
echo "admit    memory/healthz throughput ratio: $(ratio "$(field rps "$mem")" "$(field rps "$hz")")"
echo "admit    memory/healthz p99 ratio:        $(ratio "$(field p99_ms "$mem")" "$(field p99_ms "$hz")")"
curl -fsS "$base/metrics" | grep -E '^launchguard_guard_(decisions_total\{decision="allow",reason="ok"\}|reservations_outstanding\{kind="ai"\})' | sed 's/^/         /'
stop_last

# 3. Admits, reservations in Redis.
rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$rport") 2>/dev/null && break; sleep 0.05; done
export REDIS_URL="redis://127.0.0.1:$rport/"
config "$work/redis.yaml" "  redis_url: \${REDIS_URL}"
start "$work/redis.yaml"
run_wrk "$base/api/v1/guard/admit" 2 >/dev/null
red="$(run_wrk "$base/api/v1/guard/admit" "$secs")"
echo "admit    redis:     $red"
echo "admit    redis/memory throughput ratio: $(ratio "$(field rps "$red")" "$(field rps "$mem")")"
echo "admit    redis/memory p99 ratio:        $(ratio "$(field p99_ms "$red")" "$(field p99_ms "$mem")")"

stop_last

# 4. Admits, reservations on a Redis Cluster: one launchguard, then two sharing the cluster.
seeds=()
for i in 0 1 2 3 4 5; do
    p="$(free_port)"; bus="$(free_port)"
    mkdir -p "$work/node$i"
    redis-server --port "$p" --cluster-port "$bus" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 5000 --save "" --appendonly no \
        --dir "$work/node$i" >/dev/null 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
    seeds+=("127.0.0.1:$p")
done
redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$work/cluster.log" 2>&1 \
    || { echo "bench-guard: redis-cli --cluster create failed:" >&2; cat "$work/cluster.log" >&2; exit 1; }
for s in "${seeds[@]}"; do
    for _ in $(seq 1 200); do
        redis-cli -h 127.0.0.1 -p "${s#*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
        sleep 0.05
    done
done
REDIS_URL="$(printf 'redis://%s,' "${seeds[@]}")"; REDIS_URL="${REDIS_URL%,}"
export REDIS_URL
config "$work/cluster.yaml" "  redis_url: \${REDIS_URL}
  redis_cluster: true"
start "$work/cluster.yaml"
one_base="$base"
run_wrk "$one_base/api/v1/guard/admit" 2 >/dev/null
one="$(run_wrk "$one_base/api/v1/guard/admit" "$secs")"
echo "admit    cluster, 1 replica:  $one"
start "$work/cluster.yaml"
two_base="$base"
run_wrk "$two_base/api/v1/guard/admit" 2 >/dev/null
half=$(( conns / 2 > 0 ? conns / 2 : 1 ))
wrk_conns="$half" run_wrk "$one_base/api/v1/guard/admit" "$secs" >"$work/two-a" &
wa=$!
wrk_conns="$half" run_wrk "$two_base/api/v1/guard/admit" "$secs" >"$work/two-b"
wait "$wa"
two_a="$(cat "$work/two-a")"; two_b="$(cat "$work/two-b")"
two_rps="$(python3 -c "print($(field rps "$two_a") + $(field rps "$two_b"))")"
echo "admit    cluster, 2 replicas: a: $two_a"
echo "admit    cluster, 2 replicas: b: $two_b"
echo "admit    cluster, 2 replicas: rps=$two_rps (sum)"
echo "admit    cluster 1 replica/memory throughput ratio:  $(ratio "$(field rps "$one")" "$(field rps "$mem")")"
echo "admit    cluster 1 replica/memory p99 ratio:         $(ratio "$(field p99_ms "$one")" "$(field p99_ms "$mem")")"
echo "admit    cluster 2 replicas/memory throughput ratio: $(ratio "$two_rps" "$(field rps "$mem")")"
echo "admit    cluster 2 replicas/1 replica throughput:    $(ratio "$two_rps" "$(field rps "$one")")"
echo "admit    cluster 1 replica/redis throughput ratio:   $(ratio "$(field rps "$one")" "$(field rps "$red")")"

mem_rps="$(field rps "$mem")"; mem_p99="$(field p99_ms "$mem")"
verdict="$(python3 -c "print('met' if $mem_rps >= 20000 and $mem_p99 < 2 else 'NOT met')")"
echo "target   >= 20000 admits/s and p99 < 2 ms (memory): $verdict"
for r in "$mem" "$red" "$one" "$two_a" "$two_b"; do
    if [[ "$(field non2xx "$r")" != "0" || "$(field socket_errors "$r")" != "0" ]]; then
        echo "bench-guard: some admits failed: $r" >&2; exit 1
    fi
done
