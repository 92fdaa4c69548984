#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (real PostgreSQL,
# Prometheus and Alertmanager started by the tests on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
