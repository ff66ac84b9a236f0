#!/usr/bin/env bash
# shm channel benchmark: round-trip latency daemon -> python3 worker ->
# daemon for an empty event over the shm ring (spin, then futex/eventfd)
# against a Unix socketpair with length-prefixed frames, both workers using
# edgefn_channel.py's codec; then the idle CPU of a waiting shm worker.
#
#   bench/shm/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Two conditions, in this order, in the same run:
#   idle   nothing else runs; then the idle CPU of the shm worker
#   load   the same round trips while a processor (builtin:hello, numWorkers
#          2, --io-threads 2, --log-level warn, as bench/http runs it) is
#          driven by `wrk -t1 -c32` on loopback, so that the cores are
#          contended and spinning competes with its I/O threads; wrk's
#          req/s over that time is reported too.
#
# Environment:
#   EDGEFN_BENCH_MODE        idle, load or both (default both)
#   EDGEFN_BENCH_ITERATIONS  round trips per variant and round (default 20000)
#   EDGEFN_BENCH_ROUNDS      rounds, variants alternating (default 3)
#   EDGEFN_BENCH_SPIN_US     spin cap on both sides (default 50)
#   EDGEFN_BENCH_IDLE        seconds of idle CPU measurement (default 10)
#   EDGEFN_BENCH_PIN=1       daemon on CPU 0, workers on CPU 1
#   EDGEFN_BENCH_CONNECTIONS wrk -c of the load (default 32)
#   EDGEFN_BENCH_NO_BUILD=1  skip scripts/install.sh and scripts/build.sh
#   EDGEFN_BUILD_DIR         build tree (default <repo>/build)
# Figures on a shared or virtual machine are noisy: run when it is quiet,
# and compare rounds.
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
mode=${EDGEFN_BENCH_MODE:-both}
wrk_connections=${EDGEFN_BENCH_CONNECTIONS:-32}

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

[[ "$mode" =~ ^(idle|load|both)$ ]] || die "EDGEFN_BENCH_MODE must be idle, load or both"

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  if [[ "$mode" == idle ]]; then "$root/scripts/install.sh" >&2; else "$root/scripts/install.sh" --bench >&2; fi
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

bench=$build_dir/bench/shm_bench
helper=$build_dir/lib/libedgefn_ring.so
processor=$build_dir/bin/processor
[[ -x "$bench" && -f "$helper" ]] || die "build $bench and $helper first"

run_bench() {
  "$bench" --python python3 --pythonpath "$root/runtimes/python" --helper "$helper" --bench-dir "$here" \
    --iterations "${EDGEFN_BENCH_ITERATIONS:-20000}" --rounds "${EDGEFN_BENCH_ROUNDS:-3}" \
    --spin-us "${EDGEFN_BENCH_SPIN_US:-50}" --pin "${EDGEFN_BENCH_PIN:-0}" "$@"
}

if [[ "$mode" != load ]]; then
  log "bench: idle: running, about $(( ${EDGEFN_BENCH_IDLE:-10} + 20 )) s"
  run_bench --idle-seconds "${EDGEFN_BENCH_IDLE:-10}"
fi
[[ "$mode" == idle ]] && exit 0
[[ "$mode" == both ]] && echo

for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh --bench installs it)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
bench_init edgefn-bench-shm
mkdir -p "$work/fn"
cat >"$work/fn/function.yaml" <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: bench-load
spec:
  runtime: native
  handler: builtin:hello
  triggers:
    http:
      kind: http
      numWorkers: 2
YAML
start_processor_on_free_ports "$work/fn/function.yaml" "processor (builtin:hello, --io-threads 2)" \
  --io-threads 2 --log-level warn
# wrk runs until SIGINT, then prints its report.
wrk -t1 -c"$wrk_connections" -d3600s --latency "$server_url" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 1
alive "$wrk_pid" || { cat "$work/wrk.txt" >&2; die "wrk did not start"; }
log "bench: load: running under wrk -t1 -c$wrk_connections against processor builtin:hello --io-threads 2"
load_start=$(date +%s%N)
run_bench --idle-seconds 0 --condition "under HTTP load (wrk -t1 -c$wrk_connections, processor builtin:hello --io-threads 2)"
load_ns=$(($(date +%s%N) - load_start))
kill -INT "$wrk_pid"
for ((i = 0; i < 100; i++)); do alive "$wrk_pid" || break; sleep 0.05; done
stop_pid "$wrk_pid" 5 || true
stop_processor
wrk_parse "$work/wrk.txt"
printf '\nthe load meanwhile: %s req/s over %.0f s (%s requests, %s errors), p99 %s ms\n' "${wrk_rps:-?}" \
  "$(awk -v ns="$load_ns" 'BEGIN { print ns / 1e9 }')" "${wrk_requests:-?}" "$wrk_errors" "$wrk_p99"
