#!/usr/bin/env bash
# Kafka trigger benchmark: one topic on kafka-mock (librdkafka's mock
# cluster, build/bin/kafka-mock) read by kcat, the ceiling, and by the
# processor, each measured in the same run.
#
#   bench/kafka/run.sh > result.md     progress on stderr, a Markdown report on stdout
#
# Once per run, kafka-mock's produce-seq writes EDGEFN_BENCH_MESSAGES small
# messages to topic `bench` (an idempotent producer; the count delivered is
# printed and is what every configuration must read: `kcat -P -l` once
# delivered 980,629 of 1,000,000 here). Then per round, each configuration
# reads the whole topic from the beginning:
#   kcat                  kcat -C -e -q -o beginning, its lines counted as
#                         they come out (the ceiling)
#   processor native      builtin:echo, numWorkers EDGEFN_BENCH_NATIVE_WORKERS,
#                         no responseTopic (like for like with kcat)
#   processor python      `return ""`, numWorkers 2
# Each processor run has a consumer group of its own, initialOffset
# earliest, and is counted through edgefn_events_total{trigger="stream"} on
# /metrics, polled every 10 ms from the moment the management port is in
# its log. msg/s = messages / (last seen - first seen) for every
# configuration, so neither kcat's start-up nor the group's join (the mock
# assigns a new group's partitions about 3 s after its first join) counts.
# Targets (issue 11): native >= 0.7 of kcat; python >= 20,000 msg/s.
#
# Environment:
#   EDGEFN_BENCH_MESSAGES        messages produced (default 1000000)
#   EDGEFN_BENCH_SIZE            value bytes (default 64)
#   EDGEFN_BENCH_KEYS            distinct keys (default 1024)
#   EDGEFN_BENCH_PARTITIONS      partitions of the topic (default 32: the mock keeps
#                                5 MiB per partition, 1,000,000 x 64 B need 77 MB, and
#                                keys do not spread evenly)
#   EDGEFN_BENCH_BROKERS         mock brokers (default 3)
#   EDGEFN_BENCH_ROUNDS          rounds (default 3)
#   EDGEFN_BENCH_NATIVE_WORKERS  numWorkers of builtin:echo (default 2)
#   EDGEFN_BENCH_CONFIGS         which configurations (default: kcat native python)
#   EDGEFN_BENCH_TIMEOUT         seconds a configuration may take to read the topic (default 600)
#   EDGEFN_BENCH_PYTHON          the interpreter of the Python handler (default python3)
#   EDGEFN_BENCH_RESULTS         also keep every run's JSON line in this file
#   EDGEFN_BENCH_NO_BUILD=1      skip scripts/install.sh --bench and scripts/build.sh
#   EDGEFN_BUILD_DIR             build tree (default <repo>/build)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -- "$here/../.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
messages=${EDGEFN_BENCH_MESSAGES:-1000000}
size=${EDGEFN_BENCH_SIZE:-64}
keys=${EDGEFN_BENCH_KEYS:-1024}
partitions=${EDGEFN_BENCH_PARTITIONS:-32}
brokers=${EDGEFN_BENCH_BROKERS:-3}
rounds=${EDGEFN_BENCH_ROUNDS:-3}
native_workers=${EDGEFN_BENCH_NATIVE_WORKERS:-2}
configs=${EDGEFN_BENCH_CONFIGS:-kcat native python}
timeout=${EDGEFN_BENCH_TIMEOUT:-600}
readonly kTopic=bench
readonly kPythonWorkers=2
readonly kIdle=30            # seconds without a new event before a run counts as stalled
readonly kProduceTimeout=900 # seconds produce-seq may take

# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$root/bench/lib.sh"

for v in messages size keys partitions brokers rounds native_workers timeout; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for name in $configs; do
  [[ "$name" =~ ^(kcat|native|python)$ ]] || die "unknown configuration '$name' (kcat native python)"
done

if [[ "${EDGEFN_BENCH_NO_BUILD:-0}" != 1 ]]; then
  "$root/scripts/install.sh" --bench >&2
  EDGEFN_BUILD_DIR=$build_dir "$root/scripts/build.sh" >&2
fi

processor=$build_dir/bin/processor
kafka_mock=$build_dir/bin/kafka-mock
python=${EDGEFN_BENCH_PYTHON:-$(command -v python3 || true)}
for tool in kcat curl python3; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/install.sh installs it)"
done
[[ -x "$processor" ]] || die "$processor not built (scripts/build.sh)"
[[ -x "$kafka_mock" ]] || die "$kafka_mock not built (scripts/build.sh)"
[[ -x "$python" ]] || die "no python3 (EDGEFN_BENCH_PYTHON)"
bench_tool=(python3 "$here/kafka_bench.py")

bench_init edgefn-bench-kafka

# ---- kafka-mock ---------------------------------------------------------------

# Starts kafka-mock as a coprocess (its stdin and stdout are the command
# channel); sets mock_pid, mock_in, mock_out, bootstrap.
start_mock() {
  local line
  coproc MOCK { exec "$kafka_mock" --brokers "$brokers" --topic "$kTopic:$partitions" 2>"$work/kafka-mock.log"; }
  mock_pid=$MOCK_PID
  pids+=("$mock_pid")
  mock_out=${MOCK[0]}
  mock_in=${MOCK[1]}
  if ! read -r -t 15 line <&"$mock_out" || [[ "$line" != "bootstrap "* ]]; then
    tail -n 20 "$work/kafka-mock.log" >&2
    die "kafka-mock printed no bootstrap line"
  fi
  bootstrap=${line#bootstrap }
}

# mock_cmd SECONDS COMMAND...: sends one command; the lines before its `ok`
# go to mock_lines. Returns 1 on `error: ...` (the reason in mock_error);
# dies when no line comes within SECONDS.
mock_cmd() {
  local limit=$1 line
  shift
  mock_lines=()
  mock_error=
  printf '%s\n' "$*" >&"$mock_in"
  while read -r -t "$limit" line <&"$mock_out"; do
    case "$line" in
      ok) return 0 ;;
      "error: "*)
        mock_error=${line#error: }
        return 1
        ;;
      *) mock_lines+=("$line") ;;
    esac
  done
  die "kafka-mock did not answer '$*' within ${limit}s"
}

stop_mock() {
  printf 'quit\n' >&"$mock_in" 2>/dev/null || true
  stop_pid "$mock_pid" 10 || true
}

# ---- the processor ------------------------------------------------------------

# Writes the function.yaml of configuration $1 in round $2 (a consumer
# group of its own); prints its path.
write_function() {
  local name=$1 round=$2 dir runtime handler workers
  dir=$work/fn-$name-r$round
  mkdir -p "$dir"
  case "$name" in
    native) runtime=native handler=builtin:echo workers=$native_workers ;;
    python)
      runtime=python handler=main:handler workers=$kPythonWorkers
      printf 'def handler(context, event):\n    return ""\n' >"$dir/main.py"
      ;;
  esac
  {
    cat <<YAML
apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: kafka-bench
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
    stream:
      kind: kafka-cluster
      url: $bootstrap
      numWorkers: $workers
      attributes:
        topics: [$kTopic]
        consumerGroup: bench-$name-r$round-$$
        initialOffset: earliest
YAML
  } >"$dir/function.yaml"
  printf '%s' "$dir/function.yaml"
}

# ---- measuring ----------------------------------------------------------------

results=$work/results.jsonl
: >"$results"
clk_tck=$(getconf CLK_TCK)

label_of() {
  case "$1" in
    kcat) echo "kcat -C" ;;
    native) echo "processor builtin:echo" ;;
    python) echo "processor python, $kPythonWorkers workers" ;;
  esac
}

run_kcat() {
  local round=$1 out
  out=$(timeout "$timeout" kcat -C -b "$bootstrap" -t "$kTopic" -o beginning -e -q -f '%s\n' 2>>"$work/kcat.log" |
    "${bench_tool[@]}" count --count "$delivered") || die "kcat failed (see $work/kcat.log)"
  "${bench_tool[@]}" note "$out" label="$(label_of kcat)" round="$round" cpu_s=- >>"$results"
}

run_processor() {
  local name=$1 round=$2 config out procs cpu rc=0
  config=$(write_function "$name" "$round")
  server_log=$(mktemp "$work/processor.XXXXXX")
  "$processor" --config "$config" --http-listen 127.0.0.1:0 --management-address 127.0.0.1:0 \
    --log-level info >"$server_log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  out=$("${bench_tool[@]}" watch --log "$server_log" --pid "$server_pid" --count "$delivered" --trigger stream \
    --idle "$kIdle" --timeout "$timeout") || rc=$?
  read -r -a procs <<<"$server_pid $(worker_pids "$server_pid")"
  cpu=$(awk -v t="$(sum_cpu_ticks "${procs[@]}")" -v hz="$clk_tck" 'BEGIN { printf "%.1f", t / hz }')
  if ((rc != 0)) || ! alive "$server_pid"; then
    tail -n 20 "$server_log" >&2
    ((rc == 0)) || die "$(label_of "$name"): the watcher failed"
  fi
  stop_processor
  "${bench_tool[@]}" note "$out" label="$(label_of "$name")" round="$round" cpu_s="$cpu" >>"$results"
}

start_mock
log "bench: kafka-mock at $bootstrap; producing $messages messages of $size B, $keys keys, $partitions partitions"
t0=$(date +%s%N)
if ! mock_cmd "$kProduceTimeout" produce-seq "$kTopic" "$messages" "$keys" "$size"; then
  log "bench: produce-seq: $mock_error"
fi
t1=$(date +%s%N)
delivered=
for line in ${mock_lines[@]+"${mock_lines[@]}"}; do
  [[ "$line" == delivered\ * ]] && delivered=${line#delivered }
done
[[ -n "$delivered" && "$delivered" -gt 0 ]] || die "produce-seq delivered nothing"
produce_rate=$(awk -v n="$delivered" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')
log "bench: delivered $delivered of $messages ($produce_rate msg/s)"
# The mock keeps at most 5 MiB per partition and drops the oldest messages
# beyond that (its start offset moves up): each configuration must be able
# to read every delivered message.
mock_cmd 60 start "$kTopic" || die "start offsets: $mock_error"
for line in "${mock_lines[@]}"; do
  [[ "${line#* }" == 0 ]] || die "the mock dropped the oldest messages of partition ${line% *} (start offset" \
    "${line#* }): it keeps 5 MiB per partition; raise EDGEFN_BENCH_PARTITIONS or EDGEFN_BENCH_KEYS"
done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((round = 1; round <= rounds; round++)); do
  for name in $configs; do
    log "round $round/$rounds  $(label_of "$name")"
    case "$name" in
      kcat) run_kcat "$round" ;;
      *) run_processor "$name" "$round" ;;
    esac
    log "  $(tail -n 1 "$results")"
  done
done
stop_mock

export_machine_info
export BENCH_RESULTS=$results BENCH_ROUNDS=$rounds BENCH_MESSAGES=$messages BENCH_DELIVERED=$delivered
export BENCH_PRODUCE_RATE=$produce_rate BENCH_SIZE=$size BENCH_KEYS=$keys BENCH_PARTITIONS=$partitions
export BENCH_BROKERS=$brokers BENCH_NATIVE_WORKERS=$native_workers BENCH_PYTHON_WORKERS=$kPythonWorkers
export BENCH_LOAD=$load_before
export BENCH_KCAT
BENCH_KCAT=$(kcat -V 2>&1 | awk '/^Version/ { print $2; exit }' || true)
export BENCH_RDKAFKA
BENCH_RDKAFKA=$(pkg-config --modversion rdkafka 2>/dev/null || echo unknown)
export BENCH_PYTHON
BENCH_PYTHON=$("$python" --version 2>&1)
python3 "$here/report.py"
[[ -z "${EDGEFN_BENCH_RESULTS:-}" ]] || cp -- "$results" "$EDGEFN_BENCH_RESULTS"
