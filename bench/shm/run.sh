#!/usr/bin/env bash
# shm channel benchmark: round-trip latency daemon -> python3 worker ->
# daemon for an empty event over the shm ring (spin, then futex/eventfd)
# against a Unix socketpair with length-prefixed frames, both workers using
# edgefn_channel.py's codec; then the idle CPU of a waiting shm worker.
#
#   bench/shm/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Environment:
#   EDGEFN_BENCH_ITERATIONS  round trips per variant and round (default 20000)
#   EDGEFN_BENCH_ROUNDS      rounds, variants alternating (default 3)
#   EDGEFN_BENCH_SPIN_US     spin cap on both sides (default 50)
#   EDGEFN_BENCH_IDLE        seconds of idle CPU measurement (default 10)
#   EDGEFN_BENCH_PIN=1       daemon on CPU 0, workers on CPU 1
#   EDGEFN_BENCH_NO_BUILD=1  skip scripts/install.sh and scripts/build.sh
#   EDGEFN_BUILD_DIR         build tree (default <repo>/build)
# Figures on a shared or virtual machine are noisy: run when it is quiet,
# and compare rounds.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

bench=$build_dir/bench/shm_bench
helper=$build_dir/lib/libedgefn_ring.so
[[ -x "$bench" && -f "$helper" ]] || { echo "bench: build $bench and $helper first" >&2; exit 1; }

echo "bench: running, about $(( ${EDGEFN_BENCH_IDLE:-10} + 20 )) s" >&2
exec "$bench" --python python3 --pythonpath "$root/runtimes/python" --helper "$helper" --bench-dir "$here" \
  --iterations "${EDGEFN_BENCH_ITERATIONS:-20000}" --rounds "${EDGEFN_BENCH_ROUNDS:-3}" \
  --spin-us "${EDGEFN_BENCH_SPIN_US:-50}" --idle-seconds "${EDGEFN_BENCH_IDLE:-10}" \
  --pin "${EDGEFN_BENCH_PIN:-0}"
