# shellcheck shell=bash
# Shell helpers shared by bench/http/run.sh, bench/cron/run.sh and
# bench/python/run.sh. Sourced, not run:
#
#   . "$root/bench/lib.sh"
#   bench_init edgefn-bench      # work dir, pid list, exit/INT/TERM traps
#
# Conventions: progress goes to stderr (log); every process a script starts
# in the background is appended to `pids`, so that the EXIT trap stops it;
# `$work` is removed on exit. Functions that start a server set server_pid,
# server_port, server_url, server_log (and mgmt_url for the processor).
# The scripts set `processor` (the binary) before starting one.
# shellcheck disable=SC2154 # processor, root, build_dir: set by the scripts

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# bench_prepare TOOL...: installs and builds (unless EDGEFN_BENCH_NO_BUILD=1),
# then checks that each TOOL and the processor are there; sets $processor.
# Needs $root and $build_dir.
bench_prepare() {
  if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
    "$root/scripts/install.sh" --bench >&2
    EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
  fi
  processor=$build_dir/bin/processor
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh --bench installs it)"
  done
  [[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
}

# Creates $work (mktemp -d under $TMPDIR with prefix $1), empties `pids`,
# and installs the traps that stop everything on exit.
bench_init() {
  work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

alive() {
  local state
  state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Stops one process we started: SIGTERM, then SIGKILL (and its children)
# after $2 seconds. Returns its exit status.
stop_pid() {
  local pid=$1 grace=${2:-10} i children rc=0
  children=$(pgrep -P "$pid" 2>/dev/null || true)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then
    log "bench: pid $pid did not stop within ${grace}s; killing it"
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL "$pid" $children 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  local kept=() p
  for p in "${pids[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  pids=(${kept[@]+"${kept[@]}"})
  return "$rc"
}

bench_cleanup() {
  local pid
  for pid in ${pids[@]+"${pids[@]}"}; do stop_pid "$pid" 5 || true; done
  rm -rf -- "$work"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Prints the HTTP status of GET $1 (000 when nothing answers).
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }

# Waits until $1 answers 200, for at most $2 seconds, while pid $3 lives.
wait_http() {
  local url=$1 limit=$2 pid=$3 i code
  for ((i = 0; i < limit * 20; i++)); do
    alive "$pid" || return 1
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
    [[ "$code" == 200 ]] && return 0
    sleep 0.05
  done
  return 1
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# CPU time (user + system) of pid $1 in clock ticks; 0 once it is gone.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  awk '{ print $12 + $13 }' <<<"$stat"
}

# Milliseconds from a wrk latency such as 812.00us, 1.23ms, 2.00s.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) print "?"; else printf "%.3f", n * f
  }'
}

# The processor's Python workers: its child processes.
worker_pids() { pgrep -P "$1" 2>/dev/null | tr '\n' ' ' || true; }

sum_rss_kib() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(rss_kib "$pid" 2>/dev/null || echo 0))); done
  printf '%s' "$total"
}

sum_cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(cpu_ticks "$pid"))); done
  printf '%s' "$total"
}

# Reads wrk's report in $1; sets wrk_rps, wrk_p99 (ms; "?" without
# --latency), wrk_requests and wrk_errors (non-2xx answers + socket errors).
# shellcheck disable=SC2034 # the callers read them
wrk_parse() {
  local out=$1 non2xx sock
  wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  wrk_p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  wrk_requests=$(awk '/requests in/ { print $1 }' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
  sock=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10 }' "$out")
  wrk_errors=$((${non2xx:-0} + ${sock:-0}))
}

# ---- nginx ------------------------------------------------------------------

# nginx's compiled-in temp paths point into /var/lib/nginx: move every one
# that this nginx has into the run's prefix.
nginx_temp_paths() {
  local prefix=$1 flags flag name
  flags=$("$nginx_bin" -V 2>&1 | tr ' ' '\n')
  while read -r flag; do
    name=${flag#--http-}
    name=${name%%-temp-path=*}
    if [[ "$name" != client-body ]] && grep -qxF -- "--without-http_${name}_module" <<<"$flags"; then
      continue
    fi
    printf '  %s_temp_path %s/temp-%s;\n' "${name//-/_}" "$prefix" "$name"
  done < <(grep -E '^--http-[a-z-]+-temp-path=' <<<"$flags")
}

# Starts nginx from the template $2 (bench/http/nginx.conf) with
# worker_processes $1 on a free port, in a prefix under $work.
start_nginx() {
  local workers=$1 template=$2 prefix conf
  nginx_bin=${nginx_bin:-$(command -v nginx)}
  prefix=$(mktemp -d "$work/nginx.XXXXXX")
  server_port=$(free_port)
  conf=$(<"$template")
  conf=${conf//@PREFIX@/$prefix}
  conf=${conf//@PORT@/$server_port}
  conf=${conf//@WORKERS@/$workers}
  conf=${conf//@TEMP_PATHS@/$(nginx_temp_paths "$prefix")}
  printf '%s\n' "$conf" >"$prefix/nginx.conf"
  server_log=$prefix/error.log
  "$nginx_bin" -q -t -p "$prefix" -e "$server_log" -c "$prefix/nginx.conf" >&2 ||
    die "nginx rejected $prefix/nginx.conf"
  "$nginx_bin" -p "$prefix" -e "$server_log" -c "$prefix/nginx.conf" >"$prefix/output.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  server_url=http://127.0.0.1:$server_port/
  wait_http "$server_url" 10 "$server_pid" || { tail -n 20 "$server_log" >&2; die "nginx did not start"; }
}

# ---- processor --------------------------------------------------------------

# `processor --config $1` on free ports probed beforehand, with the
# arguments after $2 ($2 names the run in errors); waits until /ready and
# then GET / answer 200.
start_processor_on_free_ports() {
  local config=$1 what=$2 mgmt_port
  shift 2
  server_port=$(free_port)
  mgmt_port=$(free_port)
  server_log=$(mktemp "$work/processor.XXXXXX")
  "$processor" --config "$config" --http-listen "127.0.0.1:$server_port" \
    --management-address "127.0.0.1:$mgmt_port" "$@" \
    >"$server_log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  server_url=http://127.0.0.1:$server_port/
  mgmt_url=http://127.0.0.1:$mgmt_port
  if ! wait_http "$mgmt_url/ready" 15 "$server_pid" || ! wait_http "$server_url" 5 "$server_pid"; then
    tail -n 20 "$server_log" >&2
    die "$what did not become ready"
  fi
}

# `processor --config $1` on port 0 at --log-level info, the ports read back
# from its log; $2 is "http" when its HTTP trigger's URL is wanted (else
# "none"); the arguments after $2 follow. Waits until /ready answers 200.
start_processor_on_port0() {
  local config=$1 want_http=$2 i line port mgmt_port=
  shift 2
  server_log=$(mktemp "$work/processor.XXXXXX")
  "$processor" --config "$config" --http-listen 127.0.0.1:0 --management-address 127.0.0.1:0 \
    --log-level info "$@" >"$server_log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  server_url=
  for ((i = 0; i < 300; i++)); do
    alive "$server_pid" || break
    if [[ -z "$mgmt_port" ]]; then
      line=$(grep -m1 -oE 'management server on 127\.0\.0\.1:[0-9]+' "$server_log" || true)
      mgmt_port=${line##*:}
    fi
    if [[ "$want_http" == http && -z "$server_url" ]]; then
      line=$(grep -m1 -oE 'trigger\.http\.[^ ]+: listening on 127\.0\.0\.1:[0-9]+' "$server_log" || true)
      port=${line##*:}
      [[ -n "$port" ]] && server_url=http://127.0.0.1:$port/
    fi
    if [[ -n "$mgmt_port" && ("$want_http" != http || -n "$server_url") ]]; then
      mgmt_url=http://127.0.0.1:$mgmt_port
      [[ "$(http_code "$mgmt_url/ready")" == 200 ]] && return 0
    fi
    sleep 0.05
  done
  tail -n 20 "$server_log" >&2
  die "processor ($config) did not become ready"
}

# SIGTERM, 35 s to drain; a non-zero exit is reported with the log's tail.
stop_processor() {
  local rc=0
  stop_pid "$server_pid" 35 || rc=$?
  ((rc == 0)) || { log "bench: processor exited with status $rc after SIGTERM:"; tail -n 20 "$server_log" >&2; }
}

# ---- report -----------------------------------------------------------------

# Exports what every report's header gives: BENCH_DATE, BENCH_COMMIT,
# BENCH_CPU, BENCH_CORES, BENCH_KERNEL, BENCH_WRK, BENCH_BUILD_TYPE and
# BENCH_VERSION (needs root, build_dir, processor).
export_machine_info() {
  export BENCH_DATE
  BENCH_DATE=$(date -u +%Y-%m-%dT%H:%MZ)
  export BENCH_COMMIT
  BENCH_COMMIT=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
  export BENCH_CPU
  BENCH_CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  export BENCH_CORES
  BENCH_CORES=$(nproc)
  export BENCH_KERNEL
  BENCH_KERNEL=$(uname -r)
  export BENCH_WRK
  BENCH_WRK=$(wrk --version 2>&1 | awk 'NR == 1 { print $2 }' || true)
  export BENCH_BUILD_TYPE
  BENCH_BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
  export BENCH_VERSION
  BENCH_VERSION=$("$processor" --version 2>/dev/null | head -n 1 || true)
}
