#!/usr/bin/env bash
# Builds the whole tree with sanitizers and runs the test suite under them.
#
#   scripts/sanitize.sh asan [extra ctest args...]   ASan + UBSan, in build-asan/
#   scripts/sanitize.sh tsan [extra ctest args...]   TSan, in build-tsan-all/
#
# e.g. scripts/sanitize.sh tsan -R 'unit|test_http|test_python'
# The presets are in CMakePresets.json; this is `cmake --preset`, `cmake
# --build --preset` and `ctest --preset` in a row, which `cmake --workflow
# --preset <name>` also does (without extra ctest args). Reports from the
# processors that integration tests start are in <build>/sanitizer-logs/ and
# printed by the sanitizer.logs.check test.
#
# Environment: EDGEFN_SKIP_INSTALL=1 skips scripts/install.sh; EDGEFN_JOBS
# (default 2) sets build parallelism, EDGEFN_TEST_JOBS tests at once
# (default: EDGEFN_JOBS + 1, since the broker tests mostly wait).
set -euo pipefail

usage() {
  echo "usage: $0 asan|tsan [extra ctest args...]" >&2
  exit 2
}

(($# >= 1)) || usage
preset=$1
shift
case "$preset" in
  asan | tsan) ;;
  *) usage ;;
esac

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd -- "$root"
jobs=${EDGEFN_JOBS:-2}

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  scripts/install.sh
fi
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "${EDGEFN_TEST_JOBS:-$((jobs + 1))}" "$@"
