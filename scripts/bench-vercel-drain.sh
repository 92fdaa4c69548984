#!/usr/bin/env bash
# Benchmark (issue 14): ingest throughput of the Vercel drain receiver in entries per second on
# one core, body parsing and signature verification included (verify, gunzip, parse, plan; the
# database transaction is not included), against serde_json parsing the same body into a Value
# in the same run. Target: >= 50,000 entries/s per core on every path.
#
#   scripts/bench-vercel-drain.sh                 # 1000-entry deliveries, 5 s per path
#   scripts/bench-vercel-drain.sh 5000 10
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --example bench_vercel_drain 2>&1 | tail -1
# One core: the receiver processes a delivery on one thread.
exec taskset -c 0 target/release/examples/bench_vercel_drain "${1:-1000}" "${2:-5}"
