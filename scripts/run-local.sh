#!/usr/bin/env bash
# Runs launchguard on a working default: a throwaway local PostgreSQL 15 (loopback only) with
# the reference schema and a sample day, and the exporter on http://127.0.0.1:10071/metrics.
# Ctrl-C stops the exporter; `scripts/dev-db.sh stop` stops the database.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --run
line="$(scripts/dev-db.sh start | grep '^SUPABASE_DB_URL=')"
export SUPABASE_DB_URL="${line#SUPABASE_DB_URL=}"
cargo build --release --locked
echo "launchguard: http://127.0.0.1:10071/metrics (Ctrl-C to stop)" >&2
exec target/release/launchguard serve --listen 127.0.0.1:10071 "$@"
