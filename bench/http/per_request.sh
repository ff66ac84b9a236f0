#!/usr/bin/env bash
# What one request costs the server, against nginx in the same run: CPU time,
# system calls, context switches and heap allocations per request under
# `wrk -t1 -c32`, counted by `perf stat` on the server's processes for a
# window in the middle of the load (requests = sendmsg/writev calls, one per
# response). Throughput on a shared 2-core machine drifts by 2x within a run;
# these counts per request do not, which makes them the figures to compare
# when changing the request path.
#
#   bench/http/per_request.sh > result.md
#
# Servers: nginx `worker_processes 1` (bench/http/nginx.conf), processor
# builtin:hello (numWorkers 2, --io-threads 1), and processor python (an
# empty handler, numWorkers 1, --io-threads 1: the daemon and its worker
# counted together and apart). Needs perf (linux-perf) and root for the
# syscall tracepoints and the malloc uprobe; without the uprobe the malloc
# column says "-".
#
# Environment:
#   EDGEFN_BENCH_ROUNDS     rounds, servers alternating (default 3)
#   EDGEFN_BENCH_WINDOW     seconds counted per run (default 4)
#   EDGEFN_BENCH_NO_BUILD   1: use the existing build as is
#   EDGEFN_BUILD_DIR        build tree (default <repo>/build)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}  # read by bench_prepare
rounds=${EDGEFN_BENCH_ROUNDS:-3}
window=${EDGEFN_BENCH_WINDOW:-4}
readonly kBody=$'hello, edge\n'
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

bench_prepare nginx wrk curl perf python3
bench_init edgefn-bench-per-request

libc=$(ldd "$processor" | awk '/libc\.so/ { print $3 }')
malloc_event=
if [[ -n "$libc" ]] && perf probe -q -x "$libc" --add malloc 2>/dev/null ||
  perf list 2>/dev/null | grep 'probe_libc:malloc' >/dev/null; then
  malloc_event=probe_libc:malloc
fi
cleanup_probe() {
  if [[ -n "$malloc_event" ]]; then perf probe -q --del "$malloc_event" 2>/dev/null || true; fi
}
trap 'cleanup_probe; bench_cleanup' EXIT

write_function() {
  local name=$1 dir=$work/fn-$1
  mkdir -p "$dir"
  case "$name" in
    native)
      cat >"$dir/function.yaml" <<'YAML'
metadata: {name: bench-native}
spec:
  runtime: native
  handler: builtin:hello
  triggers: {http: {kind: http, numWorkers: 2}}
YAML
      ;;
    python)
      printf 'def handler(context, event):\n    return "hello, edge\\n"\n' >"$dir/main.py"
      cat >"$dir/function.yaml" <<'YAML'
metadata: {name: bench-python}
spec:
  runtime: python
  handler: main:handler
  triggers: {http: {kind: http, numWorkers: 1}}
YAML
      ;;
  esac
  printf '%s' "$dir/function.yaml"
}

results=$work/results.tsv
: >"$results"

# per_request STAT LABEL REQUESTS RPS: appends label, requests, then per
# request CPU us, syscalls, context switches, mallocs, and wrk's req/s.
per_request() {
  awk -F, -v label="$2" -v req="$3" -v rps="$4" '
    $3 == "task-clock" { cpu = $1 }
    $3 == "context-switches" { cs = $1 }
    $3 == "raw_syscalls:sys_enter" { sc = $1 }
    $3 == "probe_libc:malloc_per_request" { m = $1; have_m = 1 }
    END {
      if (req == 0) { print label "\t0\t-\t-\t-\t-\t" rps; exit }
      printf "%s\t%d\t%.1f\t%.2f\t%.2f\t%s\t%s\n", label, req, cpu * 1000 / req, sc / req, cs / req,
             have_m ? sprintf("%.1f", m) : "-", rps
    }' "$1" >>"$results"
  log "$(tail -n 1 "$results")"
}

# count LABEL SERVER_PID [WORKER_PID]: perf stat on the server (and on its
# worker, apart, over the same window) while wrk runs. Requests are the
# server's sendmsg/writev calls, one per response.
count() {
  local label=$1 server=$2 worker=${3:-} stat worker_stat out requests
  stat=$work/stat-$RANDOM.csv
  worker_stat=$work/stat-worker-$RANDOM.csv
  out=$work/wrk-$RANDOM.txt
  curl -sS --max-time 2 -o "$work/body" "$server_url" || die "$label: request failed"
  [[ "$(cat -- "$work/body"; printf x)" == "${kBody}x" ]] || die "$label: unexpected body"
  wrk -t1 -c32 -d"$((2 * window + 4))s" "$server_url" >"$out" &
  local wrk_pid=$! worker_perf=
  sleep 2
  # Two windows: the malloc uprobe traps on every call, which would
  # inflate the CPU time counted beside it.
  local events=task-clock,context-switches,raw_syscalls:sys_enter
  if [[ -n "$worker" ]]; then
    perf stat -x, -e "$events" -p "$worker" -- sleep "$window" 2>"$worker_stat" >/dev/null &
    worker_perf=$!
  fi
  perf stat -x, -e "$events,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev" -p "$server" -- \
    sleep "$window" 2>"$stat" >/dev/null
  [[ -n "$worker_perf" ]] && wait "$worker_perf"
  if [[ -n "$malloc_event" ]]; then
    perf stat -x, -e "$malloc_event,syscalls:sys_enter_sendmsg,syscalls:sys_enter_writev" -p "$server" -- \
      sleep "$window" 2>"$stat.malloc" >/dev/null
    awk -F, '$3 ~ /malloc/ { m = $1 } $3 ~ /sys_enter_(sendmsg|writev)$/ { n += $1 }
      END { if (n) printf "%s,,probe_libc:malloc_per_request\n", m / n }' "$stat.malloc" >>"$stat"
  fi
  wait "$wrk_pid"
  wrk_parse "$out"
  requests=$(awk -F, '$3 ~ /sys_enter_(sendmsg|writev)$/ { n += $1 } END { print n + 0 }' "$stat")
  if [[ -n "$worker" ]]; then
    per_request "$stat" "$label: daemon" "$requests" "${wrk_rps:-0}"
    per_request "$worker_stat" "$label: worker" "$requests" "${wrk_rps:-0}"
  else
    per_request "$stat" "$label" "$requests" "${wrk_rps:-0}"
  fi
}

for ((round = 1; round <= rounds; round++)); do
  start_nginx 1 "$root/bench/http/nginx.conf"
  count "nginx worker_processes 1" "$(pgrep -P "$server_pid" | head -n 1)"
  stop_pid "$server_pid"

  start_processor_on_free_ports "$(write_function native)" "processor builtin:hello" --io-threads 1 --log-level warn
  count "processor builtin:hello" "$server_pid"
  stop_processor

  start_processor_on_free_ports "$(write_function python)" "processor python" --io-threads 1 --log-level warn
  worker=$(worker_pids "$server_pid" | awk '{ print $1 }')
  count "processor python" "$server_pid" "$worker"
  stop_processor
done

export_machine_info
printf '## Cost per request: processor against nginx\n\n'
# shellcheck disable=SC2016 # backquotes are Markdown
printf '%s, commit %s, %s cores (%s), `wrk -t1 -c32`, %s s counted per run, %s rounds; per request:\n' \
  "$BENCH_DATE" "$BENCH_COMMIT" "$BENCH_CORES" "$BENCH_CPU" "$window" "$rounds"
printf 'CPU time of the counted processes, their system calls, context switches, and the malloc calls of the server process (libc uprobe, in a second window of the same run, since its traps inflate CPU time; "-": not counted).\n\n'
printf '| server | rounds | CPU us (median) | syscalls | context switches | mallocs | req/s (median) |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
awk -F'\t' '
  { n[$1]++; cpu[$1, n[$1]] = $3; sc[$1] = $4; cs[$1] = $5; m[$1] = $6; rps[$1, n[$1]] = $7
    if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  function median(a, key, count,   i, j, t, v) {
    for (i = 1; i <= count; i++) v[i] = a[key, i] + 0
    for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return v[int((count + 1) / 2)]
  }
  END {
    for (i = 1; i <= k; i++) {
      s = order[i]
      printf "| %s | %d | %.1f | %s | %s | %s | %.0f |\n", s, n[s], median(cpu, s, n[s]), sc[s], cs[s], m[s],
             median(rps, s, n[s])
    }
  }' "$results"
printf '\nsyscalls, context switches and mallocs: the last round.\n'
