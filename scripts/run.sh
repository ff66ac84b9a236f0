#!/usr/bin/env bash
# Installs dependencies, builds the processor (only what running needs: the
# tests and benchmarks are built by scripts/test.sh), and runs it in the
# foreground with the hello-python example (HTTP on :8080, management on
# 127.0.0.1:8082). Ctrl-C drains and stops it.
#
#   scripts/run.sh [processor flags...]     e.g. scripts/run.sh --log-level debug
#
# Environment: as scripts/build.sh; EDGEFN_SKIP_INSTALL=1 skips the install step.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  "$root/scripts/install.sh"
fi
if [[ ! -x "$build_dir/bin/processor" ]]; then
  echo "run.sh: the first build of the processor takes about 6 minutes on 2 cores (12 minutes of CPU); later ones, seconds"
fi
EDGEFN_TARGETS=processor "$root/scripts/build.sh"

# The processor runs in the background only so that this script can say what
# to try once it is ready; its exit status is ours. Ctrl-C reaches it from
# the terminal (its SIGINT handler replaces the ignore bash gives background
# jobs); a SIGTERM sent to this script alone is passed on. Passing SIGINT on
# as well would be a second signal, which stops without draining.
"$build_dir/bin/processor" --config "$build_dir/examples/hello-python/function.yaml" "$@" &
pid=$!
trap ':' INT
trap 'kill -TERM "$pid" 2>/dev/null' TERM
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || break
  if "$build_dir/bin/processor" health >/dev/null 2>&1; then
    echo
    echo "Ready. Try:  curl 'http://127.0.0.1:8080/?name=you'"
    break
  fi
  sleep 0.2
done
status=0
wait "$pid" || status=$?
# A signal interrupts the first wait; the second collects the drained exit.
if kill -0 "$pid" 2>/dev/null; then wait "$pid" || status=$?; fi
exit "$status"
