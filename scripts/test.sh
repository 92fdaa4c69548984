#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests. Integration tests start
# real PostgreSQL, Prometheus, Alertmanager and Redis servers themselves, on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI machines can be short of disk: say how much there is, and keep the build small (no
# incremental caches; Cargo.toml keeps debug info to line tables).
df -h . "${TMPDIR:-/tmp}" >&2 || true
export CARGO_INCREMENTAL=0
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
# Fuzz each parser for a bounded time (stable toolchain, see fuzz/Cargo.toml); a crash fails.
FUZZ_SECONDS="${FUZZ_SECONDS:-20}" scripts/fuzz.sh
