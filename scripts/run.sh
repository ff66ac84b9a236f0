#!/usr/bin/env bash
# Installs dependencies, builds, and runs the processor in the foreground
# with the hello-python example (HTTP on :8080, management on 127.0.0.1:8082).
#
#   scripts/run.sh [processor flags...]     e.g. scripts/run.sh --log-level debug
#
# Then, from another terminal:  curl 'http://127.0.0.1:8080/?name=you'
# Environment: as scripts/build.sh; EDGEFN_SKIP_INSTALL=1 skips the install step.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  "$root/scripts/install.sh"
fi
"$root/scripts/build.sh"
exec "$build_dir/bin/processor" --config "$build_dir/examples/hello-python/function.yaml" "$@"
