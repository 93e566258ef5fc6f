#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (idempotent,
# cached), checks formatting and lints, fuzzes each fuzz target for a minute (fuzz/), then
# runs every test against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
# fuzz/ is a workspace of its own, which `--all` leaves out.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo doc (warnings are errors: broken links, missing docs where denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== fuzz (${CUTOVER_FUZZ_SECONDS:-60} s per target; CUTOVER_FUZZ_SECONDS=0 skips)"
# Before the tests, not beside them: both want the two cores, and tests time their servers.
# A crash fails the run here, printing the input that reproduces it.
if [[ ${CUTOVER_FUZZ_SECONDS:-60} != 0 ]]; then
  scripts/fuzz.sh run
fi
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  # No retries: a test that passes only on its retry is a bug. Tests that measure time
  # take their margins from what they measure (the interval they assert on, a hold released
  # before `max_hold`), and the tight targets belong to `scripts/bench.sh`.
  cargo nextest run --workspace --no-fail-fast --retries 0 "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
echo "== all tests passed in $(($(date +%s) - started)) s"
