#!/usr/bin/env bash
# Soak run: a Python function with an HTTP trigger driven by wrk and a cron
# trigger ticking every second, for a long time (default 10 minutes). Checks
# what a gateway that runs for months needs: memory that does not grow, no
# errors, no leaked descriptors or shared-memory segments, a clean stop.
#
#   bench/soak/run.sh > soak.md     progress on stderr, a Markdown report on stdout
#
# After a warm-up (so that allocator pools, Python's caches and the
# connection set are in place), it records the daemon's and the workers'
# RSS, open descriptors and threads, then runs wrk for the soak duration,
# sampling every interval, then records them again after the load. Targets:
# RSS growth at most 5 % (daemon, and workers together; from the first to
# the last sample under load, and idle from before to after), 0 errors (wrk,
# edgefn_events_total other than ok, failed cron ticks), descriptors and
# /dev/shm entries unchanged, exit 0 after SIGTERM. Exit status: 0 when
# every target is met, 1 otherwise.
#
# Environment:
#   EDGEFN_SOAK_DURATION      wrk -d for the soak (default 10m)
#   EDGEFN_SOAK_WARMUP        wrk -d before the first sample (default 30s)
#   EDGEFN_SOAK_SAMPLE        seconds between samples (default 60)
#   EDGEFN_SOAK_CONNECTIONS   wrk -c (default 16)
#   EDGEFN_SOAK_WORKERS       numWorkers of the HTTP trigger (default 2)
#   EDGEFN_BENCH_NO_BUILD=1   skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR          build tree (default <repo>/build)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
duration=${EDGEFN_SOAK_DURATION:-10m}
warmup=${EDGEFN_SOAK_WARMUP:-30s}
sample_every=${EDGEFN_SOAK_SAMPLE:-60}
connections=${EDGEFN_SOAK_CONNECTIONS:-16}
workers=${EDGEFN_SOAK_WORKERS:-2}
readonly kMaxRssGrowthPercent=5

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

bench_prepare wrk curl python3

bench_init edgefn-soak

fn=$work/fn
mkdir -p "$fn"
cat >"$fn/main.py" <<'PY'
def handler(context, event):
    if event.trigger.kind == "cron":
        context.logger.debug("tick")
        return ""
    return "hello, edge\n"
PY
cat >"$fn/function.yaml" <<YAML
metadata:
  name: soak
spec:
  runtime: python
  handler: main:handler
  triggers:
    http:
      kind: http
      numWorkers: $workers
    tick:
      kind: cron
      attributes:
        interval: 1s
YAML

# Descriptors and threads of one process; 0 when it is gone.
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
thread_count() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_over() {
  local fn=$1 total=0 pid
  shift
  for pid in "$@"; do total=$((total + $("$fn" "$pid"))); done
  printf '%s' "$total"
}
shm_entries() { find /dev/shm -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
metric_sum() {  # sum of the samples of metric $1 whose labels match regex $2
  curl -s --max-time 5 "$mgmt_url/metrics" |
    awk -v name="$1" -v rx="$2" '$1 ~ "^" name "({|$)" && $1 ~ rx { s += $2 } END { printf "%d", s }'
}

# One line of the samples table: label, seconds since start, daemon RSS KiB,
# workers RSS KiB, daemon fds, workers fds, daemon threads, worker pids.
samples=$work/samples.tsv
: >"$samples"
t_start=$(date +%s)
sample() {
  local label=$1 w
  read -r -a w <<<"$(worker_pids "$server_pid")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$(($(date +%s) - t_start))" "$(rss_kib "$server_pid")" \
    "$(sum_rss_kib "${w[@]}")" "$(fd_count "$server_pid")" "$(sum_over fd_count "${w[@]}")" \
    "$(thread_count "$server_pid")" "${w[*]}" >>"$samples"
  log "soak: $(tail -n 1 "$samples" | tr '\t' ' ')"
}

shm_before=$(shm_entries)
start_processor_on_port0 "$fn/function.yaml" http
log "soak: processor $server_pid on $server_url, warm-up $warmup"
wrk -t1 -c"$connections" -d"$warmup" "$server_url" >"$work/warmup.txt"
sample start

log "soak: wrk -t1 -c$connections -d$duration, a sample every ${sample_every}s"
wrk -t1 -c"$connections" -d"$duration" --latency "$server_url" >"$work/soak.txt" &
wrk_pid=$!
pids+=("$wrk_pid")
next_sample=$(($(date +%s) + sample_every))
while alive "$wrk_pid"; do
  sleep 1
  if (($(date +%s) >= next_sample)) && alive "$wrk_pid"; then
    sample load
    next_sample=$((next_sample + sample_every))
  fi
done
wait "$wrk_pid" || die "wrk failed"
wrk_parse "$work/soak.txt"
sample end

events_ok=$(metric_sum edgefn_events_total 'result="success"')
events_bad=$(metric_sum edgefn_events_total 'result="[^o]')
cron_ticks=$(metric_sum edgefn_cron_ticks_total '')
cron_missed=$(metric_sum edgefn_cron_missed_ticks_total '')
cron_failed=$(curl -s --max-time 5 "$mgmt_url/status" |
  python3 -c 'import json,sys; print(sum(t.get("failed", 0) for t in json.load(sys.stdin).get("triggers", [])))')

t_stop=$(date +%s%N)
stop_rc=0
stop_pid "$server_pid" 35 || stop_rc=$?
stop_ms=$((($(date +%s%N) - t_stop) / 1000000))
shm_after=$(shm_entries)

export_machine_info
export SOAK_SAMPLES=$samples SOAK_DURATION=$duration SOAK_WARMUP=$warmup SOAK_CONNECTIONS=$connections
export SOAK_WORKERS=$workers SOAK_RPS=$wrk_rps SOAK_P99=$wrk_p99 SOAK_REQUESTS=$wrk_requests
export SOAK_WRK_ERRORS=$wrk_errors SOAK_EVENTS_OK=$events_ok SOAK_EVENTS_BAD=$events_bad
export SOAK_CRON_TICKS=$cron_ticks SOAK_CRON_MISSED=$cron_missed SOAK_CRON_FAILED=$cron_failed
export SOAK_STOP_RC=$stop_rc SOAK_STOP_MS=$stop_ms
export SOAK_SHM_BEFORE=$shm_before SOAK_SHM_AFTER=$shm_after SOAK_MAX_GROWTH=$kMaxRssGrowthPercent

python3 - <<'PY'
import os
import sys

env = os.environ
rows = [line.rstrip("\n").split("\t") for line in open(env["SOAK_SAMPLES"])]
start, end = rows[0], rows[-1]
loaded = [r for r in rows if r[0] == "load"] or [start, end]

def growth(a, b):
    return (int(b) - int(a)) * 100.0 / int(a) if int(a) else 0.0

print(f"### Soak, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}; "
      f"build type {env['BENCH_BUILD_TYPE'] or 'unknown'}")
print(f"- load: Python `main:handler`, HTTP `numWorkers: {env['SOAK_WORKERS']}` under "
      f"`wrk -t1 -c{env['SOAK_CONNECTIONS']} -d{env['SOAK_DURATION']}` after a {env['SOAK_WARMUP']} warm-up, "
      "plus a cron trigger every 1 s")
print()
print("| sample | s | daemon RSS | workers RSS | daemon fds | workers fds | daemon threads | worker pids |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {int(r[2]) / 1024:.1f} MiB | {int(r[3]) / 1024:.1f} MiB | {r[4]} | {r[5]} | {r[6]} | {r[7]} |")
print()

checks = []
limit = float(env["SOAK_MAX_GROWTH"])
# Under load, first sample to last; and idle, after the warm-up to after the load.
for what, a, b in (("under load", loaded[0], loaded[-1]), ("idle", start, end)):
    g_daemon, g_workers = growth(a[2], b[2]), growth(a[3], b[3])
    checks.append((f"daemon RSS growth {what} {g_daemon:+.1f} % (≤ {limit:g} %)", g_daemon <= limit))
    checks.append((f"workers RSS growth {what} {g_workers:+.1f} % (≤ {limit:g} %)", g_workers <= limit))
errors = int(env["SOAK_WRK_ERRORS"]) + int(env["SOAK_EVENTS_BAD"]) + int(env["SOAK_CRON_FAILED"] or 0)
checks.append((f"errors: wrk {env['SOAK_WRK_ERRORS']}, events not ok {env['SOAK_EVENTS_BAD']}, "
               f"failed cron ticks {env['SOAK_CRON_FAILED']} (0)", errors == 0))
checks.append((f"descriptors: daemon {start[4]} → {end[4]}, workers {start[5]} → {end[5]} (unchanged)",
               start[4] == end[4] and start[5] == end[5]))
checks.append((f"worker processes {start[7]} → {end[7]} (no restarts)", start[7] == end[7]))
checks.append((f"/dev/shm entries {env['SOAK_SHM_BEFORE']} → {env['SOAK_SHM_AFTER']} (unchanged)",
               env["SOAK_SHM_BEFORE"] == env["SOAK_SHM_AFTER"]))
checks.append((f"SIGTERM: exit {env['SOAK_STOP_RC']} after {env['SOAK_STOP_MS']} ms (0)", env["SOAK_STOP_RC"] == "0"))
for text, ok in checks:
    print(f"- {text}: {'**met**' if ok else '**missed**'}")
print(f"- throughput: {env['SOAK_REQUESTS']} requests, {env['SOAK_RPS']} req/s, p99 {env['SOAK_P99']} ms; "
      f"events ok {env['SOAK_EVENTS_OK']}; cron ticks {env['SOAK_CRON_TICKS']}, missed {env['SOAK_CRON_MISSED']}")
sys.exit(0 if all(ok for _, ok in checks) else 1)
PY
