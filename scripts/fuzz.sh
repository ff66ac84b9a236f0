#!/usr/bin/env bash
# Builds the libFuzzer targets (test/fuzz/) with clang-14 into build-fuzz/
# and runs them. docs/RELIABILITY.md says what each target covers.
#
#   scripts/fuzz.sh [check]               what CI runs: every committed corpus
#                                         replayed, then a bounded run per target
#                                         with a fixed seed (deterministic)
#   scripts/fuzz.sh run TARGET [SECONDS]  fuzzes TARGET (default 600 s); new
#                                         inputs go to build-fuzz/corpus/TARGET
#   scripts/fuzz.sh merge TARGET          minimizes test/fuzz/corpus/TARGET plus
#                                         build-fuzz/corpus/TARGET into
#                                         test/fuzz/corpus/TARGET (-merge=1);
#                                         regression-* files (inputs of fixed
#                                         findings) are kept as they are
#   scripts/fuzz.sh build                 only builds
#
# Targets: config cron http mqtt shm. A crash, a leak, a UBSan finding, an input
# slower than the timeout (below) or a process over 2 GiB stops the run and leaves the
# input in build-fuzz/artifacts/ (replay it: build-fuzz/TARGET_fuzzer FILE).
#
# Environment: EDGEFN_JOBS (build parallelism, default 2);
# EDGEFN_FUZZ_TIMEOUT (seconds an input may take; default 10 in check,
# 1 otherwise);
# EDGEFN_FUZZ_RUNS (check: inputs run per target, corpus included; default
# per target below); EDGEFN_SKIP_INSTALL=1 skips scripts/install.sh.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"
build=$root/build-fuzz
corpora=$root/test/fuzz/corpus
readonly kTargets=(config cron http mqtt shm)
# check: inputs per target, about half a minute each on one quiet core
# (config loads a file per input: a few hundred a second under load).
declare -A kCheckRuns=([config]=20000 [cron]=100000 [http]=50000 [mqtt]=300000 [shm]=50000)
# -timeout is wall-clock time. A machine shared with busy builds stalls a
# process for a second now and then, which libFuzzer would report as a slow
# input: check allows 10 s (what it must catch, like the alias bomb's 56 s,
# is far slower); run allows 1 s (EDGEFN_FUZZ_TIMEOUT sets either).
fuzz_options() {
  local timeout=$1
  printf '%s\n' -max_len=4000 "-timeout=${EDGEFN_FUZZ_TIMEOUT:-$timeout}" -rss_limit_mb=2048 -print_final_stats=1
}

usage() {
  echo "usage: $0 [check] | run TARGET [SECONDS] | merge TARGET | build" >&2
  exit 2
}

known_target() {
  local t
  for t in "${kTargets[@]}"; do [[ "$t" == "$1" ]] && return 0; done
  echo "fuzz.sh: unknown target '$1' (targets: ${kTargets[*]})" >&2
  exit 2
}

build_targets() {
  if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
    scripts/install.sh
  fi
  CC=clang-14 CXX=clang++-14 cmake -S test/fuzz -B "$build" -DCMAKE_BUILD_TYPE=Debug
  cmake --build "$build" -j "${EDGEFN_JOBS:-2}"
}

# Options for TARGET: the common ones, its dictionary if it has one, and
# where findings go.
options_for() {
  local target=$1 timeout=$2
  local -a opts
  mapfile -t opts < <(fuzz_options "$timeout")
  opts+=("-artifact_prefix=$build/artifacts/$target-")
  [[ -f test/fuzz/$target.dict ]] && opts+=("-dict=test/fuzz/$target.dict")
  printf '%s\n' "${opts[@]}"
}

check() {
  local target runs
  local -a opts
  mkdir -p "$build/artifacts"
  for target in "${kTargets[@]}"; do
    runs=${EDGEFN_FUZZ_RUNS:-${kCheckRuns[$target]}}
    mapfile -t opts < <(options_for "$target" 10)
    echo "== fuzz.sh: $target: the corpus ($(find "$corpora/$target" -type f | wc -l) inputs), then $runs runs with -seed=1"
    # New inputs go to a scratch directory, not into the checkout.
    rm -rf "$build/check/$target"
    mkdir -p "$build/check/$target"
    "$build/${target}_fuzzer" "${opts[@]}" -seed=1 -runs="$runs" "$build/check/$target" "$corpora/$target" \
      2>"$build/check/$target.log" || {
      tail -n 60 "$build/check/$target.log" >&2
      echo "fuzz.sh: $target failed; full log: $build/check/$target.log" >&2
      return 1
    }
    # libFuzzer's last status line and its final statistics.
    grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
      "$build/check/$target.log" || true
  done
  echo "== fuzz.sh: every target replayed its corpus and ran clean"
}

run() {
  local target=$1 seconds=${2:-600}
  local -a opts
  mapfile -t opts < <(options_for "$target" 1)
  mkdir -p "$build/corpus/$target" "$build/artifacts"
  "$build/${target}_fuzzer" "${opts[@]}" -max_total_time="$seconds" "$build/corpus/$target" "$corpora/$target"
}

merge() {
  local target=$1
  local -a opts
  mapfile -t opts < <(options_for "$target" 1)
  local merged=$build/merged/$target
  rm -rf "$merged"
  mkdir -p "$merged" "$build/corpus/$target" "$corpora/$target"
  "$build/${target}_fuzzer" "${opts[@]}" -merge=1 "$merged" "$corpora/$target" "$build/corpus/$target"
  # Inputs of findings stay under their names, whatever coverage they add.
  find "$corpora/$target" -maxdepth 1 -type f -name 'regression-*' -exec cp -t "$merged" {} +
  rm -rf "${corpora:?}/$target"
  mv "$merged" "$corpora/$target"
  echo "fuzz.sh: $target: $(find "$corpora/$target" -type f | wc -l) inputs in test/fuzz/corpus/$target"
}

mode=${1:-check}
case "$mode" in
  check)
    (($# <= 1)) || usage
    build_targets
    check
    ;;
  run)
    (($# >= 2 && $# <= 3)) || usage
    known_target "$2"
    build_targets
    run "$2" "${3:-600}"
    ;;
  merge)
    (($# == 2)) || usage
    known_target "$2"
    build_targets
    merge "$2"
    ;;
  build)
    (($# == 1)) || usage
    build_targets
    ;;
  *) usage ;;
esac
