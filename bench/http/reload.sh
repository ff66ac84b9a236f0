#!/usr/bin/env bash
# Reload benchmark: requests/s while the processor reloads its function
# every 2 s (SIGHUP), against the same function without reloads, driven by
# wrk on loopback. Every reload starts a new pool of workers, waits until
# they are ready, swaps and drains the old one (docs/ARCHITECTURE.md,
# "Reloads").
#
#   bench/http/reload.sh > result.md   progress on stderr, a Markdown report on stdout
#
# Functions: builtin:hello (native) and a Python handler, two workers
# each; --io-threads 2. Each round runs both modes, alternating, so that
# drift in the machine's speed hits both alike.
#
# Environment:
#   EDGEFN_BENCH_DURATION     wrk -d per run (default 10s)
#   EDGEFN_BENCH_ROUNDS       rounds (default 2)
#   EDGEFN_BENCH_CONNECTIONS  wrk -c (default 32)
#   EDGEFN_BENCH_RELOAD_EVERY seconds between reloads (default 2)
#   EDGEFN_BENCH_NO_BUILD=1   skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR          build tree (default <repo>/build)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
duration=${EDGEFN_BENCH_DURATION:-10s}
rounds=${EDGEFN_BENCH_ROUNDS:-2}
wrk_connections=${EDGEFN_BENCH_CONNECTIONS:-32}
reload_every=${EDGEFN_BENCH_RELOAD_EVERY:-2}
readonly kFunctions=(builtin-hello python-hello)

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

bench_prepare wrk curl python3

bench_init edgefn-bench-reload

write_function() {
  local fn=$1 dir=$work/fn-$1 runtime handler
  mkdir -p "$dir"
  case "$fn" in
    builtin-hello) runtime=native handler=builtin:hello ;;
    python-hello)
      runtime=python handler=main:handler
      printf 'def handler(context, event):\n    return "hello, edge\\n"\n' >"$dir/main.py"
      ;;
    *) die "unknown function $fn" ;;
  esac
  cat >"$dir/function.yaml" <<YAML
metadata:
  name: bench-reload-$fn
spec:
  runtime: $runtime
  handler: "$handler"
  triggers:
    http:
      kind: http
      numWorkers: 2
YAML
  printf '%s' "$dir/function.yaml"
}

# SIGHUP every $reload_every s until killed.
reload_loop() {
  local pid=$1
  while sleep "$reload_every"; do kill -HUP "$pid" 2>/dev/null || return 0; done
}

results=$work/results.tsv
: >"$results"
run_no=0
total_runs=$((rounds * ${#kFunctions[@]} * 2))

log "bench: $total_runs runs of wrk -t1 -c$wrk_connections -d$duration; reload every ${reload_every}s; work dir $work"
for ((round = 1; round <= rounds; round++)); do
  for fn in "${kFunctions[@]}"; do
    for mode in steady reloading; do
      run_no=$((run_no + 1))
      start_processor_on_free_ports "$(write_function "$fn")" "processor ($fn)" --io-threads 2 --log-level info
      loop_pid=
      if [[ $mode == reloading ]]; then
        reload_loop "$server_pid" &
        loop_pid=$!
        pids+=("$loop_pid")
      fi
      out=$work/wrk-$run_no.txt
      wrk -t1 -c"$wrk_connections" -d"$duration" --latency "$server_url" >"$out"
      [[ -n "$loop_pid" ]] && { kill "$loop_pid" 2>/dev/null || true; wait "$loop_pid" 2>/dev/null || true; }
      wrk_parse "$out"
      reloads=$(grep -c 'reload (SIGHUP) done' "$server_log" || true)
      failed=$(grep -c 'reload (SIGHUP) failed' "$server_log" || true)
      stop_processor
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run_no" "$fn" "$mode" "${wrk_rps:-0}" "$wrk_p99" "$wrk_errors" \
        "$reloads" "$failed" >>"$results"
      log "$(printf 'run %2d/%d  %-14s %-10s %12s req/s  p99 %8s ms  errors %s  reloads %s (failed %s)' "$run_no" \
        "$total_runs" "$fn" "$mode" "${wrk_rps:-0}" "$wrk_p99" "$wrk_errors" "$reloads" "$failed")"
    done
  done
done

export_machine_info
export BENCH_RESULTS=$results BENCH_ARGS="wrk -t1 -c$wrk_connections -d$duration --latency" BENCH_EVERY=$reload_every
python3 - <<'PY'
import os
from statistics import median

env = os.environ
rows = []
with open(env["BENCH_RESULTS"]) as f:
    for line in f:
        no, fn, mode, rps, p99, errors, reloads, failed = line.rstrip("\n").split("\t")
        rows.append(dict(no=int(no), fn=fn, mode=mode, rps=float(rps), p99=p99, errors=int(errors),
                         reloads=int(reloads), failed=int(failed)))

print(f"### Reload benchmark, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}")
print(f"- load: `{env['BENCH_ARGS']}`; SIGHUP every {env['BENCH_EVERY']} s in the reloading runs; "
      f"{env['BENCH_VERSION'] or 'processor'}, build type {env['BENCH_BUILD_TYPE'] or 'unknown'}, --io-threads 2")
print()
print("| run | function | mode | req/s | p99 (ms) | errors | reloads done | reloads failed |")
print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    print(f"| {r['no']} | {r['fn']} | {r['mode']} | {r['rps']:,.0f} | {r['p99']} | {r['errors']} "
          f"| {r['reloads']} | {r['failed']} |")
print()
for fn in dict.fromkeys(r["fn"] for r in rows):
    steady = median(r["rps"] for r in rows if r["fn"] == fn and r["mode"] == "steady")
    moving = median(r["rps"] for r in rows if r["fn"] == fn and r["mode"] == "reloading")
    errors = sum(r["errors"] for r in rows if r["fn"] == fn)
    print(f"- {fn}: median req/s reloading / steady: **{moving / steady:.2f}** "
          f"({moving:,.0f} / {steady:,.0f}); errors in all its runs: {errors}")
if any(r["errors"] or r["failed"] for r in rows):
    print("- **some runs had errors or failed reloads**")
PY
