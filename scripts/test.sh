#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests. Integration tests start
# real PostgreSQL, Prometheus, Alertmanager and Redis servers themselves, on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI machines can be short of disk: say how much there is, and keep the build small (no
# incremental caches; Cargo.toml keeps debug info to line tables).
df -h . "${TMPDIR:-/tmp}" >&2 || true
export CARGO_INCREMENTAL=0
# Each step says when it starts, so a slow or failing step is plain in CI's output.
step() { echo "== ${SECONDS}s: $*" >&2; "$@"; }
step scripts/install-deps.sh
step cargo fmt --all -- --check
step cargo clippy --all-targets --locked -- -D warnings
step cargo test --all-targets --locked
# The container image's build command (Dockerfile), so CI builds what the image ships.
step cargo build --release --locked
# Fuzz each parser for a bounded time (stable toolchain, see fuzz/Cargo.toml); a crash fails.
export FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
step scripts/fuzz.sh
echo "== ${SECONDS}s: all passed" >&2
