#!/usr/bin/env bash
# HTTP benchmark: the processor against nginx, both answering a fixed
# 12-byte "hello, edge\n" body on loopback, driven by wrk.
#
#   bench/http/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Each round runs, alternating nginx and processor so that drift in the
# machine's speed hits both alike:
#   nginx worker_processes 1      processor builtin:hello --io-threads 1
#   nginx worker_processes auto   processor builtin:hello --io-threads 2
#   nginx worker_processes 1      processor hello-c       --io-threads 1
#   nginx worker_processes auto   processor hello-c       --io-threads 2
# Every server is started fresh for its run on a free 127.0.0.1 port and
# stopped after it; everything started here is stopped on exit.
#
# Environment:
#   EDGEFN_BENCH_DURATION     wrk -d per run (default 10s)
#   EDGEFN_BENCH_ROUNDS       rounds (default 3)
#   EDGEFN_BENCH_THREADS      wrk -t (default 1)
#   EDGEFN_BENCH_CONNECTIONS  wrk -c (default 32)
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
readonly kProcessorIoThreads=(1 2)
readonly kProcessorFunctions=(builtin-hello hello-c)

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" --bench >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

processor=$build_dir/bin/processor
example_dir=$build_dir/examples/hello-c
for tool in nginx wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh --bench installs it)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
[[ -f "$example_dir/function.yaml" ]] || die "$example_dir/function.yaml not built (scripts/build.sh)"
nginx_bin=$(command -v nginx)

bench_init edgefn-bench

# Starts one server; sets server_pid, server_port, server_url, server_log and,
# for the processor, mgmt_url. nginx: start_nginx in bench/lib.sh.
write_function() {
  local fn=$1 dir=$work/fn-$1 handler
  [[ -d "$dir" ]] && { printf '%s' "$dir/function.yaml"; return; }
  mkdir -p "$dir"
  case "$fn" in
    builtin-hello) handler=builtin:hello ;;
    hello-c)
      # The example's own handler and library, with two workers.
      handler=$(sed -n 's/^[[:space:]]*handler:[[:space:]]*//p' "$example_dir/function.yaml" | head -n 1)
      handler=${handler%%#*}
      handler=${handler%"${handler##*[![:space:]]}"}
      handler=${handler#[\"\']}
      handler=${handler%[\"\']}
      [[ -n "$handler" ]] || die "no spec.handler in $example_dir/function.yaml"
      cp -- "$example_dir"/*.so "$dir/"
      ;;
    *) die "unknown function $fn" ;;
  esac
  cat >"$dir/function.yaml" <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: bench-$fn
spec:
  runtime: native
  handler: "$handler"
  triggers:
    http:
      kind: http
      numWorkers: 2
YAML
  printf '%s' "$dir/function.yaml"
}

start_processor() {
  local fn=$1 io_threads=$2
  start_processor_on_free_ports "$(write_function "$fn")" "processor ($fn, --io-threads $io_threads)" \
    --io-threads "$io_threads" --log-level warn
}

results=$work/results.tsv
: >"$results"
run_no=0
total_runs=$((rounds * ${#kProcessorFunctions[@]} * ${#kProcessorIoThreads[@]} * 2))

# One measured run against the server just started; appends a line to
# $results: no, kind, label, req/s, p99 ms, errors, body bytes, body ok,
# RSS idle KiB, RSS after KiB.
measure() {
  local kind=$1 label=$2 rss_idle=$3 out body_file body_bytes body_ok=yes rss_after=-
  run_no=$((run_no + 1))
  body_file=$work/body
  curl -sS --max-time 2 -o "$body_file" "$server_url" || die "$label: request failed"
  body_bytes=$(stat -c %s "$body_file")
  [[ "$(cat -- "$body_file"; printf x)" == "${kBody}x" ]] || body_ok=no
  out=$work/wrk-$run_no.txt
  wrk -t"$wrk_threads" -c"$wrk_connections" -d"$duration" --latency "$server_url" >"$out"
  [[ "$kind" == processor ]] && rss_after=$(rss_kib "$server_pid")
  wrk_parse "$out"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run_no" "$kind" "$label" "${wrk_rps:-0}" "$wrk_p99" \
    "$wrk_errors" "$body_bytes" "$body_ok" "$rss_idle" "$rss_after" >>"$results"
  log "$(printf 'run %2d/%d  %-40s %12s req/s  p99 %8s ms  errors %s  body %s B%s' "$run_no" \
    "$total_runs" "$label" "${wrk_rps:-0}" "$wrk_p99" "$wrk_errors" "$body_bytes" \
    "$([[ $body_ok == yes ]] || echo ' (not the nginx body)')")"
}

log "bench: $total_runs runs of wrk -t$wrk_threads -c$wrk_connections -d$duration; work dir $work"
for ((round = 1; round <= rounds; round++)); do
  n=0
  for fn in "${kProcessorFunctions[@]}"; do
    for io in "${kProcessorIoThreads[@]}"; do
      workers=${kNginxWorkers[n % ${#kNginxWorkers[@]}]}
      n=$((n + 1))

      start_nginx "$workers" "$here/nginx.conf"
      measure nginx "nginx worker_processes $workers" -
      stop_pid "$server_pid" 10 || log "bench: nginx exited with status $?"

      start_processor "$fn" "$io"
      idle=$(rss_kib "$server_pid")
      measure processor "processor ${fn/builtin-hello/builtin:hello} --io-threads $io" "$idle"
      stop_processor
    done
  done
done

stripped=$work/processor.stripped
strip -o "$stripped" "$processor" 2>/dev/null || cp -- "$processor" "$stripped"

export_machine_info
export BENCH_RESULTS=$results
export BENCH_NGINX
BENCH_NGINX=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')
export BENCH_BINARY_BYTES
BENCH_BINARY_BYTES=$(stat -c %s "$processor")
export BENCH_STRIPPED_BYTES
BENCH_STRIPPED_BYTES=$(stat -c %s "$stripped")
export BENCH_LIBS
BENCH_LIBS=$(ldd "$processor" 2>/dev/null | awk '$1 !~ /^(linux-vdso|\/)/ { printf "%s ", $1 }' || true)
export BENCH_WRK_ARGS="-t$wrk_threads -c$wrk_connections -d$duration --latency"
export BENCH_ROUNDS=$rounds

python3 - <<'PY'
import os
from statistics import median

env = os.environ
rows = []
with open(env["BENCH_RESULTS"]) as f:
    for line in f:
        no, kind, label, rps, p99, errors, body, body_ok, rss_idle, rss_after = line.rstrip("\n").split("\t")
        rows.append(dict(no=int(no), kind=kind, label=label, rps=float(rps), p99=p99, errors=int(errors),
                         body=body, body_ok=body_ok, rss_idle=rss_idle, rss_after=rss_after))

def mib(kib):
    return "-" if kib in ("-", "") else f"{int(kib) / 1024:.1f} MiB"

print(f"### HTTP benchmark, {env['BENCH_DATE']}, commit {env['BENCH_COMMIT']}")
print()
print(f"- machine: {env['BENCH_CPU']}, {env['BENCH_CORES']} cores, Linux {env['BENCH_KERNEL']}")
print(f"- load: `wrk {env['BENCH_WRK_ARGS']}` (wrk {env['BENCH_WRK']}), rounds: {env['BENCH_ROUNDS']}, "
      "client and server on the same machine, loopback")
print(f"- nginx {env['BENCH_NGINX']}; {env['BENCH_VERSION'] or 'processor'}, "
      f"build type {env['BENCH_BUILD_TYPE'] or 'unknown'}")
print()
print("| run | server | req/s | p99 (ms) | errors | body (B) | RSS idle | RSS after load |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    body = r["body"] + ("" if r["body_ok"] == "yes" else " (differs)")
    print(f"| {r['no']} | {r['label']} | {r['rps']:,.0f} | {r['p99']} | {r['errors']} | {body} "
          f"| {mib(r['rss_idle'])} | {mib(r['rss_after'])} |")
print()

labels = list(dict.fromkeys(r["label"] for r in rows))
print("| server | best req/s | median req/s | best p99 (ms) | max RSS idle | max RSS after load |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
best = {}
for label in labels:
    rs = [r for r in rows if r["label"] == label]
    best[label] = max(r["rps"] for r in rs)
    p99s = [float(r["p99"]) for r in rs if r["p99"] != "?"]
    idle = [int(r["rss_idle"]) for r in rs if r["rss_idle"] != "-"]
    after = [int(r["rss_after"]) for r in rs if r["rss_after"] != "-"]
    print(f"| {label} | {best[label]:,.0f} | {median(r['rps'] for r in rs):,.0f} "
          f"| {f'{min(p99s):.3f}' if p99s else '?'} | {mib(str(max(idle))) if idle else '-'} "
          f"| {mib(str(max(after))) if after else '-'} |")
print()

def best_of(pred):
    cands = [(best[l], l) for l in labels if pred(l)]
    return max(cands) if cands else (0.0, "none")

bp, bpl = best_of(lambda l: l.startswith("processor"))
bn, bnl = best_of(lambda l: l.startswith("nginx"))
p1, p1l = best_of(lambda l: l.startswith("processor") and l.endswith("--io-threads 1"))
n1, n1l = best_of(lambda l: l == "nginx worker_processes 1")
if bn:
    print(f"- best processor / best nginx: **{bp / bn:.2f}** ({bpl}: {bp:,.0f} req/s; {bnl}: {bn:,.0f} req/s)")
if n1:
    print(f"- one thread each, best processor --io-threads 1 / nginx worker_processes 1: **{p1 / n1:.2f}**")
print(f"- processor binary: {int(env['BENCH_BINARY_BYTES']):,} bytes "
      f"({int(env['BENCH_STRIPPED_BYTES']):,} stripped)")
print(f"- processor's shared libraries: {env['BENCH_LIBS'].strip() or 'none'}")
if any(r["errors"] for r in rows):
    print("- **some runs had errors (non-2xx answers or socket errors): their req/s is not comparable**")
if any(r["body_ok"] != "yes" for r in rows):
    print("- note: bodies marked 'differs' are not nginx's 12-byte body")
PY
