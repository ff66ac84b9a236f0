#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with CTest.
#
#   scripts/test.sh [extra ctest args...]   e.g. scripts/test.sh -R unit
#
# Environment: as scripts/build.sh (EDGEFN_CMAKE_ARGS=-DEDGEFN_WERROR=ON is
# what CI uses); EDGEFN_SKIP_INSTALL=1 skips the install step;
# EDGEFN_TEST_JOBS tests at once (default: EDGEFN_JOBS + 1, since the
# broker tests spend most of their time waiting on brokers).
# Per-test timeouts are set in CMake (test/CMakeLists.txt).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  "$root/scripts/install.sh"
fi
"$root/scripts/build.sh"
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error -j "${EDGEFN_TEST_JOBS:-$((${EDGEFN_JOBS:-2} + 1))}" "$@"
