#!/usr/bin/env bash
# Configures and builds edgefn (Release) into build/ at the repository root.
#
#   scripts/build.sh [extra cmake configure args...]
#
# Environment:
#   EDGEFN_BUILD_DIR   build tree (default: <repo>/build)
#   EDGEFN_BUILD_TYPE  CMAKE_BUILD_TYPE (default: Release)
#   EDGEFN_CMAKE_ARGS  extra configure args, split on spaces (e.g. -DEDGEFN_WERROR=ON)
#   EDGEFN_JOBS        parallel build jobs (default: 2)
#   EDGEFN_TARGETS     build only these targets, split on spaces (default: all)
# Does not install packages: scripts/install.sh does.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
read -r -a env_args <<<"${EDGEFN_CMAKE_ARGS:-}"
read -r -a targets <<<"${EDGEFN_TARGETS:-}"

cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${EDGEFN_BUILD_TYPE:-Release}" \
  ${env_args[@]+"${env_args[@]}"} "$@"
cmake --build "$build_dir" -j "${EDGEFN_JOBS:-2}" ${targets[@]+--target "${targets[@]}"}
