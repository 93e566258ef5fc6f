#!/usr/bin/env bash
# Runs the benchmarks (all, or the ones named: scripts/bench.sh files postgres) in release
# mode on the lab hosts, printing cutover's figures next to the baselines'.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet -p cutover-bench -p cutover -p cutover-testbed
exec target/release/cutover-bench "$@"
