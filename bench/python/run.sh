#!/usr/bin/env bash
# Python runtime benchmark: HTTP -> Python empty handler -> HTTP, against
# nginx answering the same 12-byte "hello, edge\n" body on loopback,
# driven by wrk.
#
#   bench/python/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# The handler (main.py) is `def handler(context, event): return "hello, edge\n"`:
# Nuclio's return-value table makes that 200 text/plain with nginx's body.
# Each round runs, alternating nginx and processor so that drift in the
# machine's speed hits both alike:
#   nginx worker_processes 1      processor python numWorkers 1 --io-threads 1
#   nginx worker_processes auto   processor python numWorkers 1 --io-threads 2
#   nginx worker_processes 1      processor python numWorkers 2 --io-threads 1
#   nginx worker_processes auto   processor python numWorkers 2 --io-threads 2
# nginx is configured exactly as in bench/http (bench/http/nginx.conf).
# Every server is started fresh for its run on a free 127.0.0.1 port and
# stopped after it; everything started here is stopped on exit. Besides
# req/s and p99, each processor run reports the CPU the daemon and its
# Python workers used during the load (100 % = one core).
#
# Environment:
#   EDGEFN_BENCH_DURATION     wrk -d per run (default 10s)
#   EDGEFN_BENCH_ROUNDS       rounds (default 3)
#   EDGEFN_BENCH_THREADS      wrk -t (default 1)
#   EDGEFN_BENCH_CONNECTIONS  wrk -c (default 32)
#   EDGEFN_BENCH_PYTHON       the interpreter (default python3 on PATH)
#   EDGEFN_BENCH_NO_BUILD=1   skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR          build tree (default <repo>/build)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
duration=${EDGEFN_BENCH_DURATION:-10s}
rounds=${EDGEFN_BENCH_ROUNDS:-3}
wrk_threads=${EDGEFN_BENCH_THREADS:-1}
wrk_connections=${EDGEFN_BENCH_CONNECTIONS:-32}
readonly kBody=$'hello, edge\n'
readonly kNginxWorkers=(1 auto)
readonly kPythonWorkers=(1 2)
readonly kProcessorIoThreads=(1 2)
readonly kTargetOneWorker=20000

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "EDGEFN_BENCH_ROUNDS must be a positive integer"

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" --bench >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

processor=$build_dir/bin/processor
python=${EDGEFN_BENCH_PYTHON:-$(command -v python3 || true)}
for tool in nginx wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh --bench installs it)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
[[ -x "$python" ]] || die "no python3 (EDGEFN_BENCH_PYTHON)"
nginx_bin=$(command -v nginx)

bench_init edgefn-bench-python

# One function directory per numWorkers, sharing the handler.
write_function() {
  local workers=$1 dir=$work/fn-python-$1
  [[ -d "$dir" ]] && { printf '%s' "$dir/function.yaml"; return; }
  mkdir -p "$dir"
  cat >"$dir/main.py" <<'PY'
def handler(context, event):
    return "hello, edge\n"
PY
  cat >"$dir/function.yaml" <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: bench-python
spec:
  runtime: python
  handler: main:handler
  env:
    - name: NUCLIO_PYTHON_EXE_PATH
      value: "$python"
  triggers:
    http:
      kind: http
      numWorkers: $workers
YAML
  printf '%s' "$dir/function.yaml"
}

start_python_processor() {
  local workers=$1 io_threads=$2
  start_processor_on_free_ports "$(write_function "$workers")" \
    "processor (python numWorkers $workers, --io-threads $io_threads)" \
    --io-threads "$io_threads" --log-level warn
}

results=$work/results.tsv
: >"$results"
run_no=0
total_runs=$((rounds * ${#kPythonWorkers[@]} * ${#kProcessorIoThreads[@]} * 2))
clk_tck=$(getconf CLK_TCK)

# One measured run against the server just started; appends a line to
# $results: no, kind, label, req/s, p99 ms, errors, body bytes, body ok,
# RSS idle KiB (daemon), RSS idle KiB (workers), daemon CPU %, workers CPU %.
measure() {
  local kind=$1 label=$2 out body_file body_bytes body_ok=yes
  local rss_daemon=- rss_workers=- cpu_daemon=- cpu_workers=- workers=() d0 w0 d1 w1 t0 t1
  run_no=$((run_no + 1))
  body_file=$work/body
  curl -sS --max-time 2 -o "$body_file" "$server_url" || die "$label: request failed"
  body_bytes=$(stat -c %s "$body_file")
  [[ "$(cat -- "$body_file"; printf x)" == "${kBody}x" ]] || body_ok=no
  if [[ "$kind" == processor ]]; then
    read -r -a workers <<<"$(worker_pids "$server_pid")"
    rss_daemon=$(rss_kib "$server_pid")
    rss_workers=$(sum_rss_kib "${workers[@]}")
    d0=$(cpu_ticks "$server_pid")
    w0=$(sum_cpu_ticks "${workers[@]}")
  fi
  out=$work/wrk-$run_no.txt
  t0=$(date +%s%N)
  wrk -t"$wrk_threads" -c"$wrk_connections" -d"$duration" --latency "$server_url" >"$out"
  t1=$(date +%s%N)
  if [[ "$kind" == processor ]]; then
    d1=$(cpu_ticks "$server_pid")
    w1=$(sum_cpu_ticks "${workers[@]}")
    cpu_daemon=$(awk -v a="$d0" -v b="$d1" -v hz="$clk_tck" -v ns=$((t1 - t0)) \
      'BEGIN { printf "%.0f", (b - a) / hz / (ns / 1e9) * 100 }')
    cpu_workers=$(awk -v a="$w0" -v b="$w1" -v hz="$clk_tck" -v ns=$((t1 - t0)) \
      'BEGIN { printf "%.0f", (b - a) / hz / (ns / 1e9) * 100 }')
  fi
  wrk_parse "$out"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run_no" "$kind" "$label" "${wrk_rps:-0}" \
    "$wrk_p99" "$wrk_errors" "$body_bytes" "$body_ok" "$rss_daemon" "$rss_workers" "$cpu_daemon" \
    "$cpu_workers" >>"$results"
  log "$(printf 'run %2d/%d  %-46s %10s req/s  p99 %8s ms  errors %s  body %s B%s%s' "$run_no" \
    "$total_runs" "$label" "${wrk_rps:-0}" "$wrk_p99" "$wrk_errors" "$body_bytes" \
    "$([[ $body_ok == yes ]] || echo ' (not the nginx body)')" \
    "$([[ $kind == processor ]] && echo "  CPU daemon $cpu_daemon % workers $cpu_workers %")")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: $total_runs runs of wrk -t$wrk_threads -c$wrk_connections -d$duration; work dir $work"
for ((round = 1; round <= rounds; round++)); do
  n=0
  for workers in "${kPythonWorkers[@]}"; do
    for io in "${kProcessorIoThreads[@]}"; do
      nginx_workers=${kNginxWorkers[n % ${#kNginxWorkers[@]}]}
      n=$((n + 1))

      start_nginx "$nginx_workers" "$root/bench/http/nginx.conf"
      measure nginx "nginx worker_processes $nginx_workers"
      stop_pid "$server_pid" 10 || log "bench: nginx exited with status $?"

      start_python_processor "$workers" "$io"
      measure processor "processor python numWorkers $workers --io-threads $io"
      stop_processor
    done
  done
done

export_machine_info
export BENCH_RESULTS=$results
export BENCH_NGINX
BENCH_NGINX=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')
export BENCH_PYTHON
BENCH_PYTHON=$("$python" --version 2>&1)
export BENCH_WRK_ARGS="-t$wrk_threads -c$wrk_connections -d$duration --latency"
export BENCH_ROUNDS=$rounds
export BENCH_TARGET=$kTargetOneWorker
export BENCH_LOAD=$load_before

python3 - <<'PY'
import os
from statistics import median

env = os.environ
rows = []
with open(env["BENCH_RESULTS"]) as f:
    for line in f:
        (no, kind, label, rps, p99, errors, body, body_ok, rss_daemon, rss_workers, cpu_daemon,
         cpu_workers) = line.rstrip("\n").split("\t")
        rows.append(dict(no=int(no), kind=kind, label=label, rps=float(rps), p99=p99, errors=int(errors),
                         body=body, body_ok=body_ok, rss_daemon=rss_daemon, rss_workers=rss_workers,
                         cpu_daemon=cpu_daemon, cpu_workers=cpu_workers))


def mib(kib):
    return "-" if kib in ("-", "") else f"{int(kib) / 1024:.1f} MiB"


def pct(v):
    return "-" if v in ("-", "") else f"{v} %"


print(f"### Python runtime benchmark, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}; "
      f"load average before the run: {env['BENCH_LOAD']}")
print(f"- load: `wrk {env['BENCH_WRK_ARGS']}` (wrk {env['BENCH_WRK']}), rounds: {env['BENCH_ROUNDS']}, "
      "client and server on the same machine, loopback")
print(f"- nginx {env['BENCH_NGINX']} (bench/http/nginx.conf); {env['BENCH_VERSION'] or 'processor'}, "
      f"build type {env['BENCH_BUILD_TYPE'] or 'unknown'}, `--log-level warn`; {env['BENCH_PYTHON']}")
print("- handler: `def handler(context, event): return \"hello, edge\\n\"` (200, text/plain, nginx's 12-byte body)")
print()
print("| run | server | req/s | p99 (ms) | errors | body (B) | CPU daemon | CPU workers | RSS daemon | RSS workers |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    body = r["body"] + ("" if r["body_ok"] == "yes" else " (differs)")
    print(f"| {r['no']} | {r['label']} | {r['rps']:,.0f} | {r['p99']} | {r['errors']} | {body} "
          f"| {pct(r['cpu_daemon'])} | {pct(r['cpu_workers'])} | {mib(r['rss_daemon'])} | {mib(r['rss_workers'])} |")
print()
print("CPU: user + system time during the load over its wall time, 100 % = one core; RSS: right after "
      "the server answered, before the load (workers: the sum over the Python processes).")
print()

labels = list(dict.fromkeys(r["label"] for r in rows))
best = {}
print("| server | best req/s | median req/s | best p99 (ms) |")
print("| --- | ---: | ---: | ---: |")
for label in labels:
    rs = [r for r in rows if r["label"] == label]
    best[label] = max(r["rps"] for r in rs)
    p99s = [float(r["p99"]) for r in rs if r["p99"] != "?"]
    print(f"| {label} | {best[label]:,.0f} | {median(r['rps'] for r in rs):,.0f} "
          f"| {f'{min(p99s):.3f}' if p99s else '?'} |")
print()


def best_of(pred):
    cands = [(best[l], l) for l in labels if pred(l)]
    return max(cands) if cands else (0.0, "none")


bn, bnl = best_of(lambda l: l.startswith("nginx"))
target = float(env["BENCH_TARGET"])
print(f"- best nginx: {bnl}, {bn:,.0f} req/s")
for workers in (1, 2):
    bp, bpl = best_of(lambda l: l.startswith(f"processor python numWorkers {workers} "))
    if not bp:
        continue
    ratio = f"{bp / bn:.3f}" if bn else "?"
    line = (f"- numWorkers {workers}, best of --io-threads 1 and 2: **{bp:,.0f} req/s** ({bpl}), "
            f"{ratio} of the best nginx")
    if workers == 1:
        line += (f"; target {target:,.0f} req/s (about 0.2x nginx): "
                 + ("**met**" if bp >= target else f"**missed** ({bp / target:.2f} of it)"))
        line += "; for comparison Nuclio publishes about 1,600 req/s per Python worker, of-watchdog + Flask about 2,700"
    print(line)
if any(r["errors"] for r in rows):
    print("- **some runs had errors (non-2xx answers or socket errors): their req/s is not comparable**")
if any(r["body_ok"] != "yes" for r in rows):
    print("- note: bodies marked 'differs' are not nginx's 12-byte body")
PY
