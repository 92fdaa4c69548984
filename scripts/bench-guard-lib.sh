# shellcheck shell=bash
# What the guard benchmarks share (sourced by bench-guard.sh, bench-guard-ab.sh and
# bench-cpu-ab.sh, from the repository root): a work directory and a throwaway database removed
# on exit, a random caller token, the config every admit passes under, starting and stopping
# launchguard ($bin), and wrk runs with scripts/bench-guard.lua ($conns connections).
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
