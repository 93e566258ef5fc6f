#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (idempotent,
# cached), checks formatting and lints, then runs every test against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --retries 0 "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
echo "== all tests passed in $(($(date +%s) - started)) s"
