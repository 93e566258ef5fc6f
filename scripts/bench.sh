#!/usr/bin/env bash
# Runs the benchmarks (all, or the sections named: scripts/bench.sh files postgres) in
# release mode on the lab hosts, cutover next to the baselines in the same rounds.
#
#   scripts/bench.sh [--scale F] [--rounds N] [SECTION...]
#
# Each section writes docs/bench/NAME.md (the machine, date, commit and command at its head),
# then those files are spliced into README.md between its `<!-- bench:NAME -->` markers, so
# the published tables are a run's output. A reduced run (--scale below 1, or
# CUTOVER_BENCH_SCALE) is for development: it writes target/bench-quick/NAME.md instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# b3sum is the strongest practitioner's hashing baseline; only the bench needs it.
if ! command -v b3sum >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends b3sum >/dev/null
fi
cargo build --release --quiet -p cutover-bench -p cutover -p cutover-testbed
target/release/cutover-bench "$@"
# Full-size results only ever land in docs/bench: a reduced run leaves the README as it is.
target/release/cutover-bench splice README.md --from docs/bench
