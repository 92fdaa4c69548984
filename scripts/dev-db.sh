#!/usr/bin/env bash
# A throwaway PostgreSQL 15 with pg_cron, Supabase's platform stubs, the launchguard migrations
# and the sample seed, on 127.0.0.1 only. For development and the README's "run it" command.
#
#   scripts/dev-db.sh start [PORT]   start (or reuse) it and print SUPABASE_DB_URL for the reader
#   scripts/dev-db.sh stop           stop it (the data stays; `start` again reuses it)
#   scripts/dev-db.sh destroy        stop it and delete its data directory
#   scripts/dev-db.sh url            print SUPABASE_DB_URL again
#   scripts/dev-db.sh psql [ARGS]    open psql as the superuser
#
# Environment: LAUNCHGUARD_DEV_DB_DIR (default ${TMPDIR:-/tmp}/launchguard-dev-db),
#              LAUNCHGUARD_PG_BINDIR (default: /usr/lib/postgresql/15/bin or `pg_config --bindir`),
#              LAUNCHGUARD_DEV_DB_SEED=0 to skip the sample data,
#              LAUNCHGUARD_DEV_DB_PRELOAD=pg_stat_statements to preload more (on a fresh directory).
# Needs (Debian 12): apt-get install -y postgresql-15 postgresql-15-cron
# When run as root, the server runs as the `postgres` system user (or `nobody`): PostgreSQL
# refuses to run as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
dir="${LAUNCHGUARD_DEV_DB_DIR:-${TMPDIR:-/tmp}/launchguard-dev-db}"
data="$dir/data"
sock="$dir/sock"
db=postgres

die() { echo "dev-db: $*" >&2; exit 1; }

find_bindir() {
    if [[ -n "${LAUNCHGUARD_PG_BINDIR:-}" ]]; then echo "$LAUNCHGUARD_PG_BINDIR"; return; fi
    if [[ -x /usr/lib/postgresql/15/bin/postgres ]]; then echo /usr/lib/postgresql/15/bin; return; fi
    if command -v pg_config >/dev/null 2>&1; then
        local b; b="$(pg_config --bindir)"
        if [[ -x "$b/postgres" ]] && "$b/postgres" --version | grep -q ' 15\.'; then echo "$b"; return; fi
    fi
    die "PostgreSQL 15 server binaries not found: apt-get install -y postgresql-15 postgresql-15-cron"
}
bindir="$(find_bindir)"
[[ -x "$bindir/initdb" && -x "$bindir/pg_ctl" && -x "$bindir/psql" ]] \
    || die "incomplete PostgreSQL in $bindir: apt-get install -y postgresql-15"

sharedir="$("$bindir/pg_config" --sharedir 2>/dev/null || echo /usr/share/postgresql/15)"
pkglibdir="$("$bindir/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)"
[[ -f "$sharedir/extension/pg_cron.control" && -f "$pkglibdir/pg_cron.so" ]] \
    || die "pg_cron not found in $sharedir/extension: apt-get install -y postgresql-15-cron"

# Who runs the server.
run_user=""
if [[ "$(id -u)" -eq 0 ]]; then
    for u in postgres nobody; do
        if id -u "$u" >/dev/null 2>&1; then run_user="$u"; break; fi
    done
    [[ -n "$run_user" ]] || die "running as root and neither 'postgres' nor 'nobody' exists"
fi
as_server() {
    if [[ -n "$run_user" ]]; then runuser -u "$run_user" -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    for p in $(seq 54329 54429); do
        if ! port_in_use "$p"; then echo "$p"; return; fi
    done
    die "no free port in 54329..54429; pass one: $0 start PORT"
}

psql_su() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$(cat "$dir/port")" -U postgres -d "$db" "$@"; }

running() { [[ -f "$data/postmaster.pid" ]] && as_server "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

print_url() {
    echo "SUPABASE_DB_URL=postgres://launchguard_reader:$(cat "$dir/reader_password")@127.0.0.1:$(cat "$dir/port")/$db?sslmode=disable"
}

cmd_start() {
    local want_port="${1:-}"
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        local port="${want_port:-$(free_port)}"
        echo "$port" > "$dir/port"
        mkdir -p "$data" "$sock"
        [[ -n "$run_user" ]] && chown -R "$run_user" "$dir"
        # No password is needed over the socket (it lives in $dir, mode 0700); TCP needs one.
        as_server "$bindir/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
        cat >> "$data/postgresql.conf" <<CONF
# launchguard dev-db
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
shared_preload_libraries = 'pg_cron${LAUNCHGUARD_DEV_DB_PRELOAD:+,$LAUNCHGUARD_DEV_DB_PRELOAD}'
cron.database_name = '$db'
cron.use_background_workers = on
max_worker_processes = 16
max_connections = 50
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
        local fresh=1
    else
        [[ -z "$want_port" || "$want_port" == "$(cat "$dir/port")" ]] \
            || die "existing data in $dir uses port $(cat "$dir/port"); run '$0 destroy' first"
    fi

    if ! running; then
        port_in_use "$(cat "$dir/port")" && die "port $(cat "$dir/port") is taken by another process"
        as_server "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null \
            || { tail -n 30 "$dir/server.log" >&2; die "server did not start (log: $dir/server.log)"; }
    fi

    if [[ -n "${fresh:-}" ]]; then
        psql_su -f "$repo/tests/fixtures/supabase_platform.sql"
        local f
        for f in "$repo"/deploy/supabase/migrations/*.sql; do
            psql_su -f "$f"
        done
        if [[ "${LAUNCHGUARD_DEV_DB_SEED:-1}" != 0 ]]; then
            psql_su -f "$repo/deploy/supabase/seed.sql"
        fi
        local pw
        pw="$(head -c 18 /dev/urandom | base64 | tr -d '/+=' | head -c 24)"
        (umask 077; echo "$pw" > "$dir/reader_password")
        psql_su -c "alter role launchguard_reader with password '$pw'"
    fi
    echo "dev-db: PostgreSQL 15 with pg_cron on 127.0.0.1:$(cat "$dir/port"), data in $dir" >&2
    print_url
}

cmd_stop() {
    if running; then
        as_server "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        echo "dev-db: stopped" >&2
    else
        echo "dev-db: not running" >&2
    fi
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    destroy) cmd_stop; rm -rf "$dir"; echo "dev-db: removed $dir" >&2 ;;
    url) [[ -f "$dir/reader_password" ]] || die "not initialised: $0 start"; print_url ;;
    psql) shift; psql_su "$@" ;;
    *) echo "usage: $0 start [PORT] | stop | destroy | url | psql [ARGS]" >&2; exit 2 ;;
esac
