#!/usr/bin/env bash
# Fuzzes cutover's readers of untrusted input with cargo-fuzz (libFuzzer), on the stable
# toolchain. Targets live in fuzz/ (see fuzz/README.md): adding one is a file and a line there;
# this script finds it through `cargo fuzz list`.
#
#   scripts/fuzz.sh [run] [TARGET...]   each target (default: all) for CUTOVER_FUZZ_SECONDS
#                                       (default 60) from its committed corpus; a crash, a hang
#                                       or an out-of-memory fails the run and prints the input
#   scripts/fuzz.sh grow [TARGET...]    the same, keeping what adds coverage in the committed
#                                       corpus, which is then minimized (commit the result)
#   scripts/fuzz.sh repro TARGET FILE   runs one input, e.g. a crash printed by a run
#   scripts/fuzz.sh add TARGET PATH...  copies files (or every file of directories) into the
#                                       target's corpus, each named by its SHA-1 like libFuzzer's
#   scripts/fuzz.sh list                the targets
#
# Why it works on stable: with `--sanitizer none` cargo-fuzz passes only stable rustc flags
# (`-Cpasses=sancov-module` and `-Cllvm-args=...` for coverage); no sanitizer is needed to
# catch what matters here, a panic (debug assertions on, so overflows panic too), a hang or
# unbounded memory. cargo-fuzz itself is installed once into the deps cache, like
# scripts/install-deps.sh's downloads, and the builds are cached there too.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${CUTOVER_DEPS_CACHE:-/var/cache/cutover-deps}
CARGO_FUZZ_VERSION=0.13.2
CARGO_FUZZ_ROOT=$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION
SECONDS_PER_TARGET=${CUTOVER_FUZZ_SECONDS:-60}
# Kept between runs, outside the work tree: a fresh clone (CI) reuses the compiled deps.
export CARGO_TARGET_DIR=${CUTOVER_FUZZ_TARGET_DIR:-$CACHE/fuzz-target}
# One input may take this many seconds before it counts as a hang.
INPUT_TIMEOUT=10
# `run` (what CI calls) mutates from a fixed seed, so a red run is the same red run again and
# a green one does not turn red by luck; `grow` explores with a fresh seed each time, and what
# it finds is fixed and kept in the corpus, which `run` then replays.
RUN_SEED=${CUTOVER_FUZZ_SEED:-1}
BUILD_FLAGS=(--fuzz-dir fuzz --sanitizer none --debug-assertions)

log() { printf 'fuzz: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Installs cargo-fuzz into the cache once (about 2.5 min); later runs only check it.
ensure_cargo_fuzz() {
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.fuzz-lock"
  flock 8
  if ! "$CARGO_FUZZ_ROOT/bin/cargo-fuzz" --version >/dev/null 2>&1; then
    # libfuzzer-sys compiles libFuzzer's C++ sources.
    if ! command -v c++ >/dev/null; then
      [[ $(id -u) == 0 ]] || die "no C++ compiler: install g++"
      log "installing g++ (libFuzzer is C++)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ >/dev/null
    fi
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT (once)"
    rm -rf "$CARGO_FUZZ_ROOT.partial"
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" \
      --root "$CARGO_FUZZ_ROOT.partial"
    rm -rf "$CARGO_FUZZ_ROOT"
    mv "$CARGO_FUZZ_ROOT.partial" "$CARGO_FUZZ_ROOT"
  fi
  flock -u 8
  export PATH=$CARGO_FUZZ_ROOT/bin:$PATH
}

targets() { cargo fuzz list --fuzz-dir fuzz; }

# Fails unless every name given is a target.
check_targets() {
  local known t
  known=$(targets)
  for t in "$@"; do
    grep -qxF "$t" <<<"$known" || die "no fuzz target \`$t\` (targets: $(tr '\n' ' ' <<<"$known"))"
  done
}

# Runs TARGET for SECONDS_PER_TARGET from SEED (0: a fresh one); new inputs go to NEW_DIR, the
# corpus is read from the directories that follow. Returns non-zero, after printing the reproducer, on a failure.
fuzz_target() {
  local target=$1 new_dir=$2 seed=$3
  shift 3
  local artifacts=fuzz/artifacts/$target
  local out rc=0
  out=$(mktemp)
  mkdir -p "$artifacts" "fuzz/corpus/$target"
  local marker
  marker=$(mktemp)
  cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "$new_dir" "$@" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout="$INPUT_TIMEOUT" -print_final_stats=1 \
    -seed="$seed" \
    >"$out" 2>&1 || rc=$?
  if [[ $rc == 0 ]]; then
    local runs coverage
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    coverage=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out" | tail -1 | grep -oE 'cov: [0-9]+' || true)
    log "$target: ok, ${runs:-?} inputs in $SECONDS_PER_TARGET s, no failure ($coverage edges)"
    rm -f "$out" "$marker"
    return 0
  fi
  log "$target: FAILED (exit $rc); the end of its output:"
  tail -n 80 "$out" >&2
  local found=0 f
  while IFS= read -r f; do
    found=1
    log "$target: failing input $f ($(wc -c <"$f") bytes), as base64:"
    base64 -w0 "$f" >&2
    printf '\n' >&2
    log "reproduce: base64 -d > input <<< '<the base64 above>' && scripts/fuzz.sh repro $target input"
    log "once fixed, keep it as a regression seed: scripts/fuzz.sh add $target input"
  done < <(find "$artifacts" -type f -newer "$marker")
  [[ $found == 1 ]] || log "$target: no input was saved (a build or libFuzzer error?)"
  rm -f "$out" "$marker"
  return 1
}

# Builds TARGET, quietly unless it fails.
build() {
  local out
  out=$(mktemp)
  if ! cargo fuzz build "${BUILD_FLAGS[@]}" "$1" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "$1: the build failed"
  fi
  rm -f "$out"
}

cmd_run() {
  local list=("$@") failed=()
  [[ ${#list[@]} -gt 0 ]] || mapfile -t list < <(targets)
  check_targets "${list[@]}"
  local t
  for t in "${list[@]}"; do
    build "$t"
    local scratch
    # What this run finds stays out of the work tree: the committed corpus is only read.
    scratch=$(mktemp -d)
    fuzz_target "$t" "$scratch" "$RUN_SEED" "fuzz/corpus/$t" || failed+=("$t")
    rm -rf "$scratch"
  done
  if [[ ${#failed[@]} -gt 0 ]]; then
    die "failing targets: ${failed[*]}"
  fi
}

cmd_grow() {
  local list=("$@") t
  [[ ${#list[@]} -gt 0 ]] || mapfile -t list < <(targets)
  check_targets "${list[@]}"
  for t in "${list[@]}"; do
    build "$t"
    fuzz_target "$t" "fuzz/corpus/$t" 0 || die "$t failed: fix it before growing its corpus"
    cargo fuzz cmin "${BUILD_FLAGS[@]}" "$t" "fuzz/corpus/$t" >/dev/null 2>&1 ||
      die "$t: minimizing its corpus failed"
    log "$t: corpus of $(find "fuzz/corpus/$t" -type f | wc -l) inputs, $(du -sh "fuzz/corpus/$t" | cut -f1)"
  done
}

cmd_repro() {
  [[ $# == 2 ]] || die "usage: scripts/fuzz.sh repro TARGET FILE"
  check_targets "$1"
  cargo fuzz run "${BUILD_FLAGS[@]}" "$1" "$2"
}

cmd_add() {
  [[ $# -ge 2 ]] || die "usage: scripts/fuzz.sh add TARGET PATH..."
  local target=$1 f n=0
  shift
  check_targets "$target"
  mkdir -p "fuzz/corpus/$target"
  while IFS= read -r -d '' f; do
    cp "$f" "fuzz/corpus/$target/$(sha1sum "$f" | cut -c1-40)"
    n=$((n + 1))
  done < <(find "$@" -type f -print0)
  log "$target: added $n inputs"
}

ensure_cargo_fuzz
command=${1:-run}
[[ $# == 0 ]] || shift
case $command in
  run) cmd_run "$@" ;;
  grow) cmd_grow "$@" ;;
  repro) cmd_repro "$@" ;;
  add) cmd_add "$@" ;;
  list) targets ;;
  *) cmd_run "$command" "$@" ;;
esac
