#!/usr/bin/env bash
# The processor's footprint, static build against dynamic (issue 13): the
# binary's size (as built and stripped), its NEEDED libraries, and the idle
# resident memory (VmRSS of the processor alone, not its workers) once
# /ready answers, for a native function (builtin:hello) and a Python one
# with one worker. Each figure is the median of 3 starts. Takes ~30 s.
#
#   bench/footprint/run.sh [STATIC_BUILD_DIR [DYNAMIC_BUILD_DIR]]
#
# Defaults: build/ (scripts/build.sh: static, the Release default) and
# build-dynamic/, configured here with -DEDGEFN_STATIC=OFF and built when
# EDGEFN_BENCH_NO_BUILD is not 1.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

static_dir=${1:-$root/build}
dynamic_dir=${2:-$root/build-dynamic}
if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  EDGEFN_BUILD_DIR=$static_dir "$root/scripts/build.sh" >&2
  EDGEFN_BUILD_DIR=$dynamic_dir "$root/scripts/build.sh" -DEDGEFN_STATIC=OFF >&2
fi
for dir in "$static_dir" "$dynamic_dir"; do
  [[ -x "$dir/bin/processor" ]] || die "$dir/bin/processor not built"
done

bench_init edgefn-footprint

mkdir -p "$work/native" "$work/python"
printf 'metadata: {name: hello}\nspec: {runtime: native, handler: "builtin:hello"}\n' >"$work/native/function.yaml"
printf 'def handler(context, event):\n    return "hello"\n' >"$work/python/main.py"
printf 'metadata: {name: hello}\nspec:\n  runtime: python\n  handler: main:handler\n  triggers: {web: {kind: http, numWorkers: 1}}\n' \
  >"$work/python/function.yaml"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '| build | binary | stripped | NEEDED | idle RSS, builtin:hello | idle RSS, Python (1 worker) |\n'
printf '| --- | ---: | ---: | --- | ---: | ---: |\n'
for pair in "static:$static_dir" "dynamic:$dynamic_dir"; do
  name=${pair%%:*}
  processor=${pair#*:}/bin/processor
  size=$(stat -c %s "$processor")
  strip -o "$work/stripped" "$processor"
  stripped=$(stat -c %s "$work/stripped")
  needed=$(readelf -d "$processor" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  row=()
  for fn in native python; do
    samples=()
    for _ in 1 2 3; do
      start_processor_on_port0 "$work/$fn/function.yaml" none
      samples+=("$(rss_kib "$server_pid")")
      stop_processor
    done
    row+=("$(printf '%s\n' "${samples[@]}" | median)")
    log "$name $fn: VmRSS KiB ${samples[*]}"
  done
  printf '| %s | %s bytes | %s bytes | %s| %s KiB | %s KiB |\n' "$name" "$size" "$stripped" "$needed" "${row[0]}" "${row[1]}"
done
