#!/usr/bin/env bash
# MQTT trigger benchmark: messages through mosquitto to the processor, each
# configuration beside the ceiling measured in the same run.
#
#   bench/mqtt/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Per round, for QoS 0 and then QoS 1, each configuration on a fresh broker
# (so that no session or queue survives from the previous one):
#   mosquitto_sub           mosquitto_sub -C N on bench/in: the ceiling of (a)
#   processor echo          builtin:echo, no response topic: (a), counted by
#                           the processor's edgefn_events_total
#   relay                   mosquitto_sub -t bench/in | mosquitto_pub -l -t bench/out:
#                           the ceiling of (b), counted on bench/out
#   processor echo -> out   builtin:echo, responseTopic bench/out: (b)
#   python 1 worker / 2     `return ""`, numWorkers 1 and 2: (c), counted by metrics
#   python echo -> out      `return event.body`, 1 worker, responseTopic: (c) beside Node-RED
#   node-red                mqtt in -> function (return msg) -> mqtt out, counted on bench/out
# A run publishes EDGEFN_BENCH_MESSAGES messages as fast as the publisher
# (bench/mqtt/mqtt_publish.c, built here with cc: a window of
# unacknowledged QoS 1 publishes; it ends when every PUBACK came) can, and then, where messages come out on
# bench/out, EDGEFN_BENCH_LATENCY_MESSAGES at EDGEFN_BENCH_LATENCY_RATE
# messages/s for the latency of an unloaded path. The counter is our own
# subscriber (mqtt_bench.py count); its own ceiling (bench/in directly) is
# measured beside mosquitto_sub's. After the rounds: idle RSS and CPU of a
# processor with one MQTT trigger and builtin:echo.
#
# The broker: mosquitto on a free 127.0.0.1 port with its own config,
# anonymous, `max_queued_messages 0` (no limit: nothing dropped while a
# subscriber lags), persistence off (nothing here outlives a run), defaults
# otherwise (Nagle on, max_inflight_messages 20 per subscriber).
#
# Environment:
#   EDGEFN_BENCH_MESSAGES          messages per run (default 50000)
#   EDGEFN_BENCH_ROUNDS            rounds (default 3)
#   EDGEFN_BENCH_SIZE              payload bytes (default 64)
#   EDGEFN_BENCH_LATENCY_RATE      paced runs' messages/s (default 1000)
#   EDGEFN_BENCH_LATENCY_MESSAGES  paced runs' messages (default 2000)
#   EDGEFN_BENCH_NATIVE_WORKERS    numWorkers of the builtin:echo processor (default 2)
#   EDGEFN_BENCH_CONFIGS           which configurations, space-separated (default: all above:
#                                  sub echo relay echo-out py1 py2 py-out nodered)
#   EDGEFN_BENCH_NODE_RED          directory with node_modules/node-red (default
#                                  <repo>/build/bench-cache/node-red, installed there with npm
#                                  when missing); "none" skips Node-RED
#   EDGEFN_BENCH_PYTHON            the interpreter of the Python handler (default python3)
#   EDGEFN_BENCH_RESULTS           also keep every run's JSON line in this file
#   EDGEFN_BENCH_NO_BUILD=1        skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR               build tree (default <repo>/build)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
messages=${EDGEFN_BENCH_MESSAGES:-50000}
rounds=${EDGEFN_BENCH_ROUNDS:-3}
size=${EDGEFN_BENCH_SIZE:-64}
latency_rate=${EDGEFN_BENCH_LATENCY_RATE:-1000}
latency_messages=${EDGEFN_BENCH_LATENCY_MESSAGES:-2000}
native_workers=${EDGEFN_BENCH_NATIVE_WORKERS:-2}
configs=${EDGEFN_BENCH_CONFIGS:-sub echo relay echo-out py1 py2 py-out nodered}
node_red_dir=${EDGEFN_BENCH_NODE_RED:-$root/build/bench-cache/node-red}
[[ "$node_red_dir" == none ]] || node_red_dir=$(realpath -m -- "$node_red_dir")
readonly kQos=(0 1)
readonly kClientId=bench-processor
readonly kIdleSettle=3   # seconds between subscribing and the idle RSS
readonly kIdleWindow=10  # seconds of idle CPU

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

for v in messages rounds size latency_rate latency_messages native_workers; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" --bench >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

processor=$build_dir/bin/processor
python=${EDGEFN_BENCH_PYTHON:-$(command -v python3 || true)}
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[[ -x "$mosquitto_bin" ]] || die "mosquitto not found (apt-get install mosquitto)"
for tool in mosquitto_sub mosquitto_pub curl python3 cc; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install mosquitto-clients curl python3 gcc)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
[[ -x "$python" ]] || die "no python3 (EDGEFN_BENCH_PYTHON)"
bench_tool=("python3" "$here/mqtt_bench.py")

bench_init edgefn-bench-mqtt

publisher=$work/mqtt_publish
cc -O2 -Wall -Wextra -o "$publisher" "$here/mqtt_publish.c" >&2 || die "cannot build $here/mqtt_publish.c"

# ---- Node-RED ---------------------------------------------------------------

node_red_js=
node_red_note=
find_node_red() {
  [[ " $configs " == *" nodered "* ]] || return 0
  if [[ "$node_red_dir" == none ]]; then
    node_red_note="skipped (EDGEFN_BENCH_NODE_RED=none)"
  elif ! command -v node >/dev/null; then
    node_red_note="skipped: no node on PATH"
  else
    if [[ ! -f "$node_red_dir/node_modules/node-red/red.js" ]] && command -v npm >/dev/null; then
      log "bench: npm install node-red into $node_red_dir"
      mkdir -p "$node_red_dir"
      (cd "$node_red_dir" && timeout 900 npm install --no-audit --no-fund --omit=dev node-red@4 >&2) ||
        log "bench: npm install node-red failed"
    fi
    if [[ -f "$node_red_dir/node_modules/node-red/red.js" ]]; then
      node_red_js=$node_red_dir/node_modules/node-red/red.js
    else
      node_red_note="skipped: node-red could not be installed into $node_red_dir"
    fi
  fi
  [[ -z "$node_red_note" ]] || log "bench: Node-RED $node_red_note"
}
find_node_red

# ---- broker -----------------------------------------------------------------

# Starts mosquitto on a free port; sets broker_pid, broker_port, broker_log.
start_broker() {
  local dir
  dir=$(mktemp -d "$work/broker.XXXXXX")
  broker_port=$(free_port)
  broker_log=$dir/mosquitto.log
  {
    printf 'listener %s 127.0.0.1\n' "$broker_port"
    printf 'allow_anonymous true\n'
    ((EUID == 0)) && printf 'user root\n'
    printf 'max_queued_messages 0\n'
    printf 'persistence false\n'
    printf 'log_dest file %s\n' "$broker_log"
    # `subscribe` is how the scripts see a subscriber ready; no per-message logging.
    printf 'log_type error\nlog_type warning\nlog_type notice\nlog_type information\nlog_type subscribe\n'
  } >"$dir/mosquitto.conf"
  "$mosquitto_bin" -c "$dir/mosquitto.conf" >"$dir/output.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  local i
  for ((i = 0; i < 200; i++)); do
    alive "$broker_pid" || break
    grep -q "Opening ipv4 listen socket on port $broker_port" "$broker_log" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$dir/output.log" "$broker_log" >&2 2>/dev/null || true
  die "mosquitto did not start"
}

# Waits until the broker's log has a line matching $1 (extended regex), for at
# most $2 seconds while pid $3 lives.
wait_logged() {
  local pattern=$1 limit=$2 pid=$3 i
  for ((i = 0; i < limit * 20; i++)); do
    grep -qE "$pattern" "$broker_log" && return 0
    alive "$pid" || return 1
    sleep 0.05
  done
  return 1
}

# Waits until the broker logged client $1's subscription to $2, for at most
# $3 seconds while pid $4 lives.
wait_subscribed() { wait_logged "^[0-9]+: $1 [0-2] $2\$" "$3" "$4"; }

# ---- the servers under test -------------------------------------------------

# Writes a function.yaml; $1 runtime config name, $2 QoS; prints its path.
write_function() {
  local name=$1 qos=$2 dir runtime handler workers response=
  dir=$work/fn-$name-q$qos-$RANDOM
  mkdir -p "$dir"
  case "$name" in
    echo | echo-out) runtime=native handler=builtin:echo workers=$native_workers ;;
    py1 | py2 | py-out)
      runtime=python handler=main:handler workers=1
      [[ "$name" == py2 ]] && workers=2
      if [[ "$name" == py-out ]]; then
        printf 'def handler(context, event):\n    return event.body\n' >"$dir/main.py"
      else
        printf 'def handler(context, event):\n    return ""\n' >"$dir/main.py"
      fi
      ;;
    *) die "unknown function $name" ;;
  esac
  [[ "$name" == *-out ]] && response="        responseTopic: bench/out"
  {
    cat <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: bench-mqtt
spec:
  runtime: $runtime
  handler: "$handler"
  disableDefaultHTTPTrigger: true
YAML
    [[ "$runtime" == python ]] && cat <<YAML
  env:
    - name: NUCLIO_PYTHON_EXE_PATH
      value: "$python"
YAML
    cat <<YAML
  triggers:
    mqtt:
      kind: mqtt
      url: tcp://127.0.0.1:$broker_port
      numWorkers: $workers
      attributes:
        clientID: $kClientId
        subscriptions:
          - topic: bench/in
            qos: $qos
YAML
    [[ -n "$response" ]] && printf '%s\n' "$response"
  } >"$dir/function.yaml"
  printf '%s' "$dir/function.yaml"
}

# Starts what config $1 measures at QoS $2 against the running broker, waits
# until it subscribed; sets server_pid (empty for sub), server_kind.
start_server() {
  local name=$1 qos=$2 dir
  server_pid=
  case "$name" in
    sub) server_kind=none ;;
    relay)
      server_kind=relay
      # Through a FIFO rather than a pipe, so that both pids are known.
      dir=$(mktemp -d "$work/relay.XXXXXX")
      mkfifo "$dir/lines"
      mosquitto_pub -p "$broker_port" -i bench-relay-pub -t bench/out -q "$qos" -l <"$dir/lines" &
      relay_pub_pid=$!
      pids+=("$relay_pub_pid")
      mosquitto_sub -p "$broker_port" -i bench-relay-sub -t bench/in -q "$qos" >"$dir/lines" &
      server_pid=$!
      pids+=("$server_pid")
      wait_subscribed bench-relay-sub bench/in 15 "$server_pid" || die "the relay did not subscribe"
      wait_logged "New client connected from .* as bench-relay-pub " 15 "$relay_pub_pid" ||
        die "the relay's mosquitto_pub did not connect"
      ;;
    nodered)
      server_kind=nodered
      dir=$(mktemp -d "$work/nodered.XXXXXX")
      sed -e "s/@PORT@/$broker_port/" -e "s/\"@QOS@\"/\"$qos\"/g" "$here/nodered-flows.json" >"$dir/flows.json"
      cp "$here/nodered-settings.js" "$dir/settings.js"
      server_log=$dir/node-red.log
      node "$node_red_js" --no-telemetry -u "$dir" -s "$dir/settings.js" -p "$(free_port)" "$dir/flows.json" \
        >"$server_log" 2>&1 &
      server_pid=$!
      pids+=("$server_pid")
      if ! wait_subscribed bench-nodered bench/in 90 "$server_pid"; then
        tail -n 20 "$server_log" >&2
        die "Node-RED did not subscribe"
      fi
      ;;
    *)
      server_kind=processor
      start_processor_on_port0 "$(write_function "$name" "$qos")" none
      if ! wait_subscribed "$kClientId" bench/in 15 "$server_pid"; then
        tail -n 20 "$server_log" >&2
        die "the processor ($name) did not subscribe"
      fi
      ;;
  esac
}

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  case "$server_kind" in
    processor) stop_processor ;;
    relay)
      stop_pid "$server_pid" 5 || true
      stop_pid "$relay_pub_pid" 5 || true
      ;;
    *) stop_pid "$server_pid" 10 || true ;;
  esac
  server_pid=
}

# ---- measuring --------------------------------------------------------------

results=$work/results.jsonl
: >"$results"
clk_tck=$(getconf CLK_TCK)
total_runs=0
for name in $configs; do
  [[ "$name" == nodered && -z "$node_red_js" ]] && continue
  total_runs=$((total_runs + ${#kQos[@]}))
done
total_runs=$((total_runs * rounds))
run_no=0

cpu_pct() {  # ticks before, after, ns elapsed
  awk -v a="$1" -v b="$2" -v hz="$clk_tck" -v ns="$3" 'BEGIN { printf "%.0f", (b - a) / hz / (ns / 1e9) * 100 }'
}

# One measure of mqtt_bench.py; $1 label, $2 round, $3 QoS, $4 phase
# (load | paced), the rest its arguments. Appends a JSON line with the CPU
# the server (and its children) and the broker used.
measure() {
  local label=$1 round=$2 qos=$3 phase=$4 out procs=() s0 s1 b0 b1 t0 t1 rss=-
  shift 4
  if [[ -n "$server_pid" ]]; then
    read -r -a procs <<<"$server_pid $(worker_pids "$server_pid")"
    [[ "$server_kind" == relay ]] && procs+=("$relay_pub_pid")
    rss=$(sum_rss_kib "${procs[@]}")
  fi
  s0=$(sum_cpu_ticks ${procs[@]+"${procs[@]}"})
  b0=$(cpu_ticks "$broker_pid")
  t0=$(date +%s%N)
  out=$("${bench_tool[@]}" measure --port "$broker_port" --qos "$qos" --size "$size" --work "$work" \
    --publisher "$publisher" "$@") ||
    die "$label QoS $qos: the measurement failed"
  t1=$(date +%s%N)
  s1=$(sum_cpu_ticks ${procs[@]+"${procs[@]}"})
  b1=$(cpu_ticks "$broker_pid")
  "${bench_tool[@]}" note "$out" label="$label" round="$round" phase="$phase" rss_kib="$rss" \
    server_cpu="$([[ -n "$server_pid" ]] && cpu_pct "$s0" "$s1" $((t1 - t0)) || echo -)" \
    broker_cpu="$(cpu_pct "$b0" "$b1" $((t1 - t0)))" >>"$results"
}

label_of() {
  case "$1" in
    sub) echo "mosquitto_sub" ;;
    echo) echo "processor builtin:echo" ;;
    relay) echo "relay mosquitto_sub → mosquitto_pub -l" ;;
    echo-out) echo "processor builtin:echo -> out" ;;
    py1) echo "processor python 1 worker" ;;
    py2) echo "processor python 2 workers" ;;
    py-out) echo "processor python echo -> out, 1 worker" ;;
    nodered) echo "node-red in -> function -> out" ;;
  esac
}

run_config() {
  local name=$1 round=$2 qos=$3 label
  label=$(label_of "$name")
  run_no=$((run_no + 1))
  log "run $run_no/$total_runs  round $round  QoS $qos  $label"
  start_broker
  start_server "$name" "$qos"
  case "$name" in
    sub)
      measure "$label" "$round" "$qos" load --count "$messages" --detect mosquitto_sub --broker-log "$broker_log"
      measure "counter on bench/in" "$round" "$qos" load --count "$messages" --detect counter
      measure "counter on bench/in" "$round" "$qos" paced --count "$latency_messages" --rate "$latency_rate" \
        --detect counter
      ;;
    echo | py1 | py2)
      measure "$label" "$round" "$qos" load --count "$messages" --detect metrics --metrics-url "$mgmt_url" \
        --trigger mqtt
      ;;
    *)
      measure "$label" "$round" "$qos" load --count "$messages" --detect counter --topic bench/out
      measure "$label" "$round" "$qos" paced --count "$latency_messages" --rate "$latency_rate" \
        --detect counter --topic bench/out
      ;;
  esac
  stop_server
  stop_pid "$broker_pid" 5 || true
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "bench: $total_runs runs of $messages messages ($size B); work dir $work"
for ((round = 1; round <= rounds; round++)); do
  for qos in "${kQos[@]}"; do
    for name in $configs; do
      [[ "$name" == nodered && -z "$node_red_js" ]] && continue
      run_config "$name" "$round" "$qos"
    done
  done
done

# ---- idle -------------------------------------------------------------------

idle_rss=- idle_cpu=-
if [[ " $configs " == *" echo "* ]]; then
  log "bench: idle processor (builtin:echo, one MQTT trigger, QoS 1)"
  start_broker
  start_server echo 1
  sleep "$kIdleSettle"
  idle_rss=$(rss_kib "$server_pid")
  c0=$(cpu_ticks "$server_pid")
  t0=$(date +%s%N)
  sleep "$kIdleWindow"
  c1=$(cpu_ticks "$server_pid")
  t1=$(date +%s%N)
  idle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$clk_tck" -v ns=$((t1 - t0)) \
    'BEGIN { printf "%.2f", (b - a) / hz / (ns / 1e9) * 100 }')
  log "  RSS $idle_rss KiB, CPU $idle_cpu % over ${kIdleWindow}s"
  stop_server
  stop_pid "$broker_pid" 5 || true
fi

export_machine_info
export BENCH_RESULTS=$results BENCH_ROUNDS=$rounds BENCH_MESSAGES=$messages BENCH_SIZE=$size
export BENCH_LATENCY_RATE=$latency_rate BENCH_LATENCY_MESSAGES=$latency_messages
export BENCH_NATIVE_WORKERS=$native_workers BENCH_LOAD=$load_before
export BENCH_IDLE_RSS=$idle_rss BENCH_IDLE_CPU=$idle_cpu BENCH_IDLE_WINDOW=$kIdleWindow
export BENCH_NODE_RED_NOTE=$node_red_note
export BENCH_MOSQUITTO
BENCH_MOSQUITTO=$({ "$mosquitto_bin" -h 2>&1 || true; } | awk 'NR == 1 { print $3 }')
export BENCH_NODE_RED_VERSION=
if [[ -n "$node_red_js" ]]; then
  BENCH_NODE_RED_VERSION="node-red $(node -p "require('$node_red_dir/node_modules/node-red/package.json').version"), node $(node --version)"
fi
export BENCH_PYTHON
BENCH_PYTHON=$("$python" --version 2>&1)
python3 "$here/report.py"
[[ -z "${EDGEFN_BENCH_RESULTS:-}" ]] || cp -- "$results" "$EDGEFN_BENCH_RESULTS"
