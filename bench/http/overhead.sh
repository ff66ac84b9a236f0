#!/usr/bin/env bash
# What observing the daemon costs on its fastest path: requests/s of the
# processor (builtin:hello, an inline native handler, so that nothing else
# hides the cost) with metrics recording on and off (`--metrics off`), and
# with the access log on and off (`--access-log`, when this build has it),
# in the same run.
#
#   bench/http/overhead.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Each round runs every configuration once, in alternating order, each on a
# freshly started processor; the report gives every run, the median per
# configuration and the ratios on/off: the median of each round's ratio
# (its two runs ran back to back, under the same load), of the medians,
# of the bests, and of the CPU time per request (target for metrics: at
# least 0.97).
#
# Environment:
#   EDGEFN_BENCH_DURATION     wrk -d per run (default 10s)
#   EDGEFN_BENCH_ROUNDS       rounds (default 5)
#   EDGEFN_BENCH_THREADS      wrk -t (default 1)
#   EDGEFN_BENCH_CONNECTIONS  wrk -c (default 32)
#   EDGEFN_BENCH_IO_THREADS   the processor's --io-threads (default 1)
#   EDGEFN_BENCH_NO_BUILD=1   skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR          build tree (default <repo>/build)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
duration=${EDGEFN_BENCH_DURATION:-10s}
rounds=${EDGEFN_BENCH_ROUNDS:-5}
wrk_threads=${EDGEFN_BENCH_THREADS:-1}
wrk_connections=${EDGEFN_BENCH_CONNECTIONS:-32}
io_threads=${EDGEFN_BENCH_IO_THREADS:-1}

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

bench_prepare wrk curl python3

bench_init edgefn-overhead
config=$work/function.yaml
cat >"$config" <<'YAML'
metadata:
  name: bench-overhead
spec:
  runtime: native
  handler: builtin:hello
  triggers:
    http:
      kind: http
      numWorkers: 2
YAML

results=$work/results.tsv
: >"$results"

# One configuration, one run: label, then the processor's extra arguments.
# Appends "label<TAB>req/s<TAB>errors<TAB>CPU us per request" to $results.
# The CPU time the processor spent per request is the steadier figure on a
# shared machine, where req/s follows whatever else runs.
run_one() {
  local label=$1 out ticks_before ticks_after cpu_us
  shift
  start_processor_on_free_ports "$config" "processor ($label)" --io-threads "$io_threads" "$@"
  out=$work/wrk-$RANDOM.txt
  ticks_before=$(cpu_ticks "$server_pid")
  wrk -t"$wrk_threads" -c"$wrk_connections" -d"$duration" "$server_url" >"$out"
  ticks_after=$(cpu_ticks "$server_pid")
  wrk_parse "$out"
  stop_processor
  cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$(getconf CLK_TCK)" -v n="${wrk_requests:-0}" \
    'BEGIN { if (n > 0) printf "%.2f", t / hz * 1e6 / n; else print 0 }')
  printf '%s\t%s\t%s\t%s\n' "$label" "${wrk_rps:-0}" "$wrk_errors" "$cpu_us" >>"$results"
  log "$(printf '  %-22s %12s req/s  %8s CPU us/request  errors %s' "$label" "${wrk_rps:-0}" "$cpu_us" "$wrk_errors")"
}

# Metrics recording on against off, both at --log-level warn.
measure_metrics_ratio() {
  local round=$1
  if ((round % 2)); then
    run_one "metrics on" --log-level warn
    run_one "metrics off" --log-level warn --metrics off
  else
    run_one "metrics off" --log-level warn --metrics off
    run_one "metrics on" --log-level warn
  fi
}

# The access log on against off, both at --log-level info (where the access
# log writes), into a file as under a service manager. Skipped, and said so
# in the report, when this build has no --access-log.
measure_access_log_ratio() {
  local round=$1
  "$processor" --help 2>/dev/null | grep -q -- '--access-log' || return 0
  if ((round % 2)); then
    run_one "access log on" --log-level info --access-log
    run_one "access log off" --log-level info
  else
    run_one "access log off" --log-level info
    run_one "access log on" --log-level info --access-log
  fi
}

log "bench: $rounds rounds of wrk -t$wrk_threads -c$wrk_connections -d$duration, --io-threads $io_threads; work dir $work"
for ((round = 1; round <= rounds; round++)); do
  log "round $round/$rounds"
  measure_metrics_ratio "$round"
  measure_access_log_ratio "$round"
done

export_machine_info
export BENCH_RESULTS=$results
export BENCH_WRK_ARGS="-t$wrk_threads -c$wrk_connections -d$duration"
export BENCH_ROUNDS=$rounds BENCH_IO_THREADS=$io_threads
export BENCH_ACCESS_LOG
BENCH_ACCESS_LOG=$("$processor" --help 2>/dev/null | grep -c -- '--access-log' || true)

python3 - <<'PY'
import os
from statistics import median

env = os.environ
runs = {}
cpu = {}
errors = 0
with open(env["BENCH_RESULTS"]) as f:
    for line in f:
        label, rps, errs, cpu_us = line.rstrip("\n").split("\t")
        runs.setdefault(label, []).append(float(rps))
        cpu.setdefault(label, []).append(float(cpu_us))
        errors += int(errs)

print(f"### Observability overhead, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}")
print(f"- load: `wrk {env['BENCH_WRK_ARGS']}` against builtin:hello, numWorkers 2, "
      f"--io-threads {env['BENCH_IO_THREADS']}; rounds: {env['BENCH_ROUNDS']}")
print()
print("| configuration | runs (req/s) | median req/s | best req/s | median CPU us/request |")
print("| --- | --- | ---: | ---: | ---: |")
for label, values in runs.items():
    print(f"| {label} | {', '.join(f'{v:,.0f}' for v in values)} | {median(values):,.0f} | {max(values):,.0f} "
          f"| {median(cpu[label]):.2f} |")
print()

def ratio(on, off, target=None):
    if on not in runs or off not in runs:
        return None
    r = median(runs[on]) / median(runs[off])
    best = max(runs[on]) / max(runs[off])
    # Requests per CPU second, on over off: what recording costs the
    # processor itself, whatever else the machine runs.
    per_cpu = median(cpu[off]) / median(cpu[on]) if median(cpu[on]) else 0
    # The two runs of a round ran back to back, under the same load from
    # whatever else the machine does: their ratio is the steadiest.
    paired = median(a / b for a, b in zip(runs[on], runs[off]) if b)
    verdict = "" if target is None else (" (target >= %.2f: %s)" % (target, "met" if paired >= target else "NOT met"))
    print(f"- {on} / {off}: median of the rounds' req/s ratios **{paired:.3f}**{verdict}; "
          f"ratio of median req/s {r:.3f}; of best req/s {best:.3f}; of requests per CPU second {per_cpu:.3f}")
    return paired

ratio("metrics on", "metrics off", 0.97)
if ratio("access log on", "access log off") is None:
    print("- access log on / off: not measured (this build has no --access-log)")
if errors:
    print("- **some runs had errors (non-2xx answers or socket errors)**")
PY
