#!/usr/bin/env bash
# The database load of one `launchguard serve` against two, both collecting
# (tests/it/collect_load.rs, a real seeded PostgreSQL 15 with pg_stat_statements): statements/min,
# per collection, execution time and connections, and the ratio two/one. Numbers in
# notes/redis-cluster-design.md came from
#   scripts/bench-collect-load.sh                        # interval 2 s, 60 s window per phase
#   LOAD_INTERVAL_SECS=30 LOAD_WINDOW_SECS=300 scripts/bench-collect-load.sh   # the default interval
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --test it -- --ignored --nocapture --test-threads=1 collect_load::
