#!/usr/bin/env bash
# Hostile-client benchmark: what idle connections and amplification
# attempts cost the processor in memory.
#
#   bench/hostile/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Two runs against builtin:hello on --io-threads 2, each on a fresh
# processor on a free 127.0.0.1 port:
#   idle           N keep-alive connections (default 5,000), one request
#                  each, then idle: RSS growth per connection (target
#                  <= 10 KB)
#   amplification  one connection per case, one after the other: Content-
#                  Length 2^40, 100,000 one-byte headers, one huge chunk,
#                  many 1 MiB chunks, a huge chunk extension, a huge
#                  trailer (each streamed up to EDGEFN_BENCH_STREAM_MB):
#                  RSS after each and the peak (VmHWM) against the
#                  baseline (target <= baseline + 25 MB)
# The client is bench/hostile/hostile_client.py; it raises its own
# descriptor limit to the hard limit. Everything started here is stopped on
# exit.
#
# Environment:
#   EDGEFN_BENCH_IDLE_CONNECTIONS  idle connections (default 5000)
#   EDGEFN_BENCH_STREAM_MB         MiB streamed per amplification case (default 256)
#   EDGEFN_BENCH_COMPARE           another processor binary, run the same way
#                                  after this one (the build before a change)
#   EDGEFN_BENCH_NO_BUILD=1        skip scripts/install.sh and scripts/build.sh
#   EDGEFN_BUILD_DIR               build tree (default <repo>/build)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
idle_connections=${EDGEFN_BENCH_IDLE_CONNECTIONS:-5000}
stream_mb=${EDGEFN_BENCH_STREAM_MB:-256}
compare=${EDGEFN_BENCH_COMPARE:-}
readonly kTargetBytesPerConnection=10240
readonly kTargetGrowthKiB=$((25 * 1024))

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

[[ "$idle_connections" =~ ^[1-9][0-9]*$ ]] || die "EDGEFN_BENCH_IDLE_CONNECTIONS must be a positive integer"
[[ "$stream_mb" =~ ^[1-9][0-9]*$ ]] || die "EDGEFN_BENCH_STREAM_MB must be a positive integer"

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

processor=$build_dir/bin/processor
for tool in curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh installs it)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
[[ -z "$compare" || -x "$compare" ]] || die "EDGEFN_BENCH_COMPARE: $compare is not an executable"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= idle_connections + 100)) ||
  die "the descriptor limit ($(ulimit -Hn)) is below $((idle_connections + 100)); lower EDGEFN_BENCH_IDLE_CONNECTIONS"

bench_init edgefn-bench-hostile

# Default limits except what the idle run needs: room for every connection
# and timeouts longer than the run.
config=$work/function.yaml
cat >"$config" <<YAML
metadata:
  name: bench-hostile
spec:
  runtime: native
  handler: builtin:hello
  triggers:
    http:
      kind: http
      numWorkers: 2
      attributes:
        maxConnections: $((idle_connections + 100))
        keepAliveTimeout: 10m
        readHeaderTimeout: 10m
YAML

results=$work/results.tsv
: >"$results"

# One binary: both runs, each on a fresh processor; rows go to $results
# prefixed with the binary's label.
run_binary() {
  local label=$1 bin=$2 port
  processor=$bin
  log "bench: $label ($bin): $idle_connections idle connections"
  start_processor_on_port0 "$config" http --io-threads 2
  port=${server_url##*:}
  port=${port%/}
  python3 "$here/hostile_client.py" idle "$server_pid" "$port" "$mgmt_url" "$idle_connections" |
    sed "s/^/$label\t/" >>"$results"
  stop_processor
  log "bench: $label: amplification, $stream_mb MiB per case"
  start_processor_on_port0 "$config" http --io-threads 2
  port=${server_url##*:}
  port=${port%/}
  python3 "$here/hostile_client.py" cases "$server_pid" "$port" "$mgmt_url" "$stream_mb" |
    sed "s/^/$label\t/" >>"$results"
  stop_processor
}

run_binary this "$build_dir/bin/processor"
[[ -n "$compare" ]] && run_binary compared "$compare"
processor=$build_dir/bin/processor

export_machine_info
export BENCH_RESULTS=$results BENCH_COMPARE=$compare BENCH_STREAM_MB=$stream_mb
export BENCH_TARGET_PER_CONNECTION=$kTargetBytesPerConnection BENCH_TARGET_GROWTH_KIB=$kTargetGrowthKiB

python3 - <<'PY'
import os

env = os.environ
idle, cases = {}, {}
with open(env["BENCH_RESULTS"]) as f:
    for line in f:
        label, kind, *rest = line.rstrip("\n").split("\t")
        if kind == "idle":
            idle[label] = rest
        else:
            cases.setdefault(label, []).append(rest)

def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"

print(f"### Hostile clients, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}")
print(f"- {env['BENCH_VERSION'] or 'processor'}, build type {env['BENCH_BUILD_TYPE'] or 'unknown'}, "
      "builtin:hello, --io-threads 2, client and server on the same machine, loopback")
if env["BENCH_COMPARE"]:
    print(f"- compared: `{env['BENCH_COMPARE']}`")
print()
target = int(env["BENCH_TARGET_PER_CONNECTION"])
print("| build | idle keep-alive connections | RSS before | RSS with them open | per connection | target |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
for label, (count, before, after, per) in idle.items():
    verdict = "met" if int(per) <= target else "**missed**"
    print(f"| {label} | {int(count):,} | {mib(before)} | {mib(after)} | {int(per):,} B | <= {target:,} B: {verdict} |")
print()
limit = int(env["BENCH_TARGET_GROWTH_KIB"])
print(f"Amplification, one connection per case, {env['BENCH_STREAM_MB']} MiB streamed where the case streams; "
      "the peak is the daemon's VmHWM after the case:")
print()
print("| build | case | answer | RSS before | RSS after | peak | peak over the first baseline | target |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
for label, rows in cases.items():
    baseline = int(rows[0][2])
    for name, code, before, after, peak, took in rows:
        over = int(peak) - baseline
        verdict = "met" if over <= limit else "**missed**"
        print(f"| {label} | {name} | {code} | {mib(before)} | {mib(after)} | {mib(peak)} | {over / 1024:+.1f} MiB "
              f"| <= +25 MiB: {verdict} |")
PY
