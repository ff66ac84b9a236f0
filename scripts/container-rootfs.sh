#!/usr/bin/env bash
# Tests the container image where no container engine runs: builds the root
# filesystem of the Dockerfile's runtime stage with debootstrap, the same
# steps in the same order (config/container/runtime-setup.sh, then the
# processor installed with `cmake --install`), and runs the image's
# ENTRYPOINT and CMD in it (read from the Dockerfile) as its USER, in a PID
# and mount namespace of their own with a fresh /proc and a minimal /dev.
# Then, as Docker and Kubernetes would: the HEALTHCHECK command inside,
# /live, /ready and /status from outside, a request to a Python function,
# SIGTERM and a drain that exits 0.
#
#   scripts/container-rootfs.sh          (as root; about 2 minutes, see docs/deploying.md)
#
# Not in .ci/run: it needs the Debian mirror and minutes. The container
# shares the host's network (so the test reaches it on 127.0.0.1); the
# ports are the only change to the image's command: port 0 instead of 8080
# and 8082, so that it cannot collide with anything running here.
#
# Environment: EDGEFN_BUILD_DIR (default build/; built with scripts/build.sh
# if it has no processor), EDGEFN_DEBIAN_MIRROR (default: this machine's apt
# source), EDGEFN_KEEP_ROOTFS=1 keeps the root filesystem and prints where.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
readonly kTimeout=60  # seconds, for each wait below

say() { echo "container-rootfs: $*"; }
die() {
  echo "container-rootfs: FAIL: $*" >&2
  exit 1
}

((EUID == 0)) || die "run as root: debootstrap, unshare and chroot need it"
for tool in unshare chroot nsenter curl python3; do
  command -v "$tool" >/dev/null || die "$tool is missing"
done
if ! command -v debootstrap >/dev/null; then
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

mirror=${EDGEFN_DEBIAN_MIRROR:-}
if [[ -z "$mirror" ]]; then
  mirror=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
    /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{ print $2; exit }' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edgefn-rootfs.XXXXXX")
rootfs=$work/root
container_pid=  # the running step's unshare (debootstrap, a chroot, the container)
helper_pids=()  # a broker and a subscriber on the host

# Whatever happened: the running step killed, any mount left under the
# work directory taken down, and the directory removed only once nothing
# runs or is mounted in it. Each step runs under `unshare --pid`; its child
# is PID 1 of the namespace, and SIGKILL to that one makes the kernel kill
# everything else in there. (--kill-child alone is not enough: the parent
# death signal it sets is dropped when chroot --userspec changes the
# credentials.)
cleanup() {
  local status=$? pid1_of_step='' alive=0
  if [[ -n "$container_pid" ]] && kill -0 "$container_pid" 2>/dev/null; then
    pid1_of_step=$(pgrep -P "$container_pid" || true)
    for pid in $pid1_of_step; do kill -KILL "$pid" 2>/dev/null || true; done
    kill -KILL "$container_pid" 2>/dev/null || true
    wait "$container_pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do  # reaped by init now: up to 10 s
      alive=0
      for pid in $pid1_of_step; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
  fi
  for pid in "${helper_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  local mounts
  mounts=$(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  for m in $mounts; do umount -l "$m" 2>/dev/null || true; done
  if ((alive)); then
    echo "container-rootfs: process $pid1_of_step (the step's PID 1) is still alive; not removing $work" >&2
  elif awk -v w="$work/" 'index($5, w) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    echo "container-rootfs: mounts remain under $work; not removing it" >&2
  elif [[ "${EDGEFN_KEEP_ROOTFS:-0}" == 1 ]]; then
    say "kept $rootfs"
  else
    rm -rf --one-file-system -- "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs "$@" with $rootfs as the root, as a container runtime would: its own
# mount and PID namespaces ("$@" is PID 1), /proc of that PID namespace and
# a tmpfs /dev with the usual nodes. With "ro" first, the root is read-only
# and /tmp a tmpfs, as in the Kubernetes manifests (readOnlyRootFilesystem,
# an emptyDir on /tmp): what works so works with Docker's writable layer.
# The mounts live in the namespace and vanish with it; --kill-child: the
# container dies with this process.
# shellcheck disable=SC2016  # expanded by the bash inside the namespaces
readonly kMountDev='
  mode=$1 r=$2; shift 2
  mount --rbind "$r" "$r"
  mount -t tmpfs -o nosuid,mode=0755 dev "$r/dev"
  for n in null zero full random urandom tty; do
    [ -e "/dev/$n" ] || continue
    touch "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n"
  done
  mkdir "$r/dev/shm" "$r/dev/pts"
  mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$r/dev/shm"
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"; ln -s /proc/self/fd/1 "$r/dev/stdout"; ln -s /proc/self/fd/2 "$r/dev/stderr"
  if [ "$mode" = ro ]; then
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmp "$r/tmp"
    mount -o remount,bind,ro "$r"
  fi
  exec "$@"
'
in_container() {  # ro|rw command...
  local mode=$1
  shift
  unshare --mount --pid --fork --kill-child --mount-proc="$rootfs/proc" \
    bash -c "$kMountDev" bash "$mode" "$rootfs" "$@"
}

# Runs "$@" in the background with its output in the file $1 and waits for
# it: a signal to this script then runs the trap at once (bash defers traps
# while a foreground command runs), and the trap kills the step.
run_step() {
  local log=$1 status=0
  shift
  "$@" >"$log" 2>&1 &
  container_pid=$!
  wait "$container_pid" || status=$?
  container_pid=
  return "$status"
}

started=$SECONDS
step() {
  say "[$((SECONDS - started))s] $*"
}

# --- The build stage's result: the processor, built as the Dockerfile does.
if [[ ! -x "$build_dir/bin/processor" ]]; then
  step "no $build_dir/bin/processor: building it (scripts/build.sh)"
  "$root/scripts/build.sh"
fi

# --- FROM debian:bookworm-slim
step "debootstrap --variant=minbase bookworm from $mirror"
# In namespaces of its own: its processes die with it, its mounts (/proc in
# the target) vanish with it, whatever happens.
run_step "$work/debootstrap.log" unshare --mount --pid --fork --kill-child \
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" ||
  { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
# debian:bookworm-slim's apt sources: the release, its updates and security.
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${EDGEFN_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# --- COPY config/container/runtime-setup.sh; RUN it
step "runtime-setup.sh in the root"
install -m 0755 "$root/config/container/runtime-setup.sh" "$rootfs/tmp/runtime-setup.sh"
run_step "$work/setup.log" in_container rw chroot "$rootfs" /tmp/runtime-setup.sh ||
  { tail -20 "$work/setup.log" >&2; die "runtime-setup.sh failed (log above)"; }
rm "$rootfs/tmp/runtime-setup.sh"

# --- COPY --from=build /staging/ /
step "cmake --install into the root"
cmake --install "$build_dir" --prefix "$rootfs/usr/local" --strip >"$work/install.log"
rm -rf "$rootfs/usr/local/include"  # as the Dockerfile does

# The image holds no library beyond glibc's: the Release build links the
# rest statically. A dynamic build (before that change, or configured so)
# gets its libraries' packages here, and says so: the image would lack them.
mapfile -t libraries < <(ldd "$rootfs/usr/local/bin/processor" | awk '$3 ~ /^\// { print $3 }' |
  grep -vE '/(libc|libm|libgcc_s)\.so' || true)
if ((${#libraries[@]} != 0)); then
  mapfile -t library_packages < <(for library in "${libraries[@]}"; do
    dpkg -S "$library" 2>/dev/null || dpkg -S "$(readlink -f "$library")" 2>/dev/null ||
      dpkg -S "/usr$(readlink -f "$library")" 2>/dev/null || echo "unknown: $library"
  done | cut -d: -f1 | sort -u)
  say "NOTE: this processor is linked dynamically to ${libraries[*]##*/}; the image has none of these"
  say "NOTE: installing ${library_packages[*]} into the root so that the test can run"
  run_step "$work/libraries.log" in_container rw chroot "$rootfs" sh -c 'export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "$@" &&
    apt-get clean && rm -rf /var/lib/apt/lists/*' sh "${library_packages[@]}" ||
    { tail -20 "$work/libraries.log" >&2; die "installing the processor's libraries failed"; }
fi

# --- The runtime stage's USER, ENTRYPOINT, CMD and HEALTHCHECK, as written.
user='' workdir='' entrypoint=() cmd=() healthcheck=()
eval "$(python3 - "$root/Dockerfile" <<'EOF'
import json, re, shlex, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
stage = re.split(r"(?m)^FROM ", text)[-1]
def instruction(name):
    found = re.findall(r"(?m)^%s\s+(.*)$" % name, stage)
    if not found:
        sys.exit("Dockerfile: no %s in the runtime stage" % name)
    return found[-1].strip()
def array(name, value):
    print("%s=(%s)" % (name, " ".join(shlex.quote(word) for word in json.loads(value))))
print("user=" + shlex.quote(instruction("USER")))
print("workdir=" + shlex.quote(instruction("WORKDIR")))
array("entrypoint", instruction("ENTRYPOINT"))
array("cmd", instruction("CMD"))
array("healthcheck", re.search(r"\sCMD\s+(\[.*\])", instruction("HEALTHCHECK")).group(1))
EOF
)"
say "USER $user, ENTRYPOINT ${entrypoint[*]}, CMD ${cmd[*]}"

# --- The function volume: an example, as `-v examples/hello-python:/function:ro`.
cp -r "$root/examples/hello-python/." "$rootfs/function/"
sed -i 's/":8080"/":0"/' "$rootfs/function/function.yaml"
cmd=("${cmd[@]/0.0.0.0:8082/0.0.0.0:0}")
grep -q '":0"' "$rootfs/function/function.yaml" || die "hello-python's url is no longer \":8080\""
[[ " ${cmd[*]} " == *" 0.0.0.0:0 "* ]] || die "the Dockerfile's CMD no longer has --management-address 0.0.0.0:8082"

step "root filesystem: $(du -sh --exclude=proc "$rootfs" | cut -f1) (debian:bookworm-slim trims docs and locales: the image is smaller)"

# --- docker run: a clean environment as Docker gives it, the token given;
# the root read-only (see in_container). $1 names the run's log.
token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
start_container() {
  log=$work/processor-$1.log
  step "starting the container ($1)"
  env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=edgefn-test HOME=/nonexistent \
    EDGEFN_MANAGEMENT_TOKEN="$token" \
    unshare --mount --pid --fork --kill-child --mount-proc="$rootfs/proc" \
    bash -c "$kMountDev" bash ro "$rootfs" \
    chroot --userspec="$user" "$rootfs" /usr/bin/env --chdir="$workdir" "${entrypoint[@]}" "${cmd[@]}" \
    >"$log" 2>&1 &
  container_pid=$!
  wait_until management_port_logged || { cat "$log" >&2; die "the processor did not log its management port"; }
  # The host's view of the container's processes: PID 1 (tini), the
  # processor, its Python workers.
  pid1=$(pgrep -P "$container_pid")
  processor_pid=$(pgrep -P "$pid1")
  [[ "$(readlink "/proc/$pid1/exe")" == "$rootfs/usr/bin/tini" ]] || die "PID 1 is not the image's tini"
}

# docker stop: SIGTERM to PID 1, which tini hands to the processor; it
# must drain and exit 0 in time.
stop_container() {
  step "SIGTERM"
  kill -TERM "$pid1"
  local deadline=$((SECONDS + kTimeout)) exit_status=0
  while kill -0 "$container_pid" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the container did not stop within ${kTimeout}s of SIGTERM"
    sleep 0.2
  done
  wait "$container_pid" || exit_status=$?
  container_pid=
  ((exit_status == 0)) || { tail -20 "$log" >&2; die "the container exited $exit_status after SIGTERM"; }
  grep -q 'draining' "$log" || { tail -20 "$log" >&2; die "no drain in the log"; }
  step "drained and exited 0"
}

# Waits up to kTimeout seconds for "$@" to succeed.
wait_until() {
  local deadline=$((SECONDS + kTimeout))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    kill -0 "$container_pid" 2>/dev/null || return 1
    sleep 0.2
  done
}
logged_port() {  # the port the log says was bound, after "$1"
  grep -oE "$1 [0-9.]+:[0-9]+" "$log" | head -1 | sed 's/.*://'
}
management_port_logged() {
  management_port=$(logged_port 'management server on')
  [[ -n "$management_port" ]]
}
http_port_logged() {
  http_port=$(logged_port 'listening on')
  [[ -n "$http_port" ]]
}

start_container http
wait_until http_port_logged || { cat "$log" >&2; die "the processor did not log its HTTP port"; }
say "HTTP on $http_port, management on $management_port"

# docker exec: in the container's namespaces and root, as its user.
docker_exec() {
  env -i PATH=/usr/local/bin:/usr/bin:/bin nsenter --target "$pid1" --mount --pid --root --wd \
    --setuid "${user%%:*}" --setgid "${user##*:}" "$@"
}
healthcheck_in_image=("${healthcheck[@]}")
healthcheck=("${healthcheck_in_image[@]/127.0.0.1:8082/127.0.0.1:$management_port}")
# (`processor health --help` says nothing: CLI11 answers --help before it
# finds an unknown word; the subcommand list does.)
if docker_exec "${healthcheck[0]}" --help 2>/dev/null | grep -qE '^ +health +'; then
  healthy() { docker_exec "${healthcheck_in_image[@]/127.0.0.1:8082/127.0.0.1:$management_port}" >/dev/null 2>&1; }
  health_what="HEALTHCHECK (${healthcheck[*]})"
else
  say "NOTE: this processor has no 'health' subcommand yet: the HEALTHCHECK is checked with python3 in the container"
  healthy() {
    docker_exec python3 -c 'import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=3).status == 200 else 1)' \
      "http://127.0.0.1:$management_port/ready" >/dev/null 2>&1
  }
  health_what="/ready from inside (python3)"
fi
wait_until healthy || { cat "$log" >&2; die "$health_what did not pass"; }
step "healthy: $health_what passed"

status_of() {  # HTTP status of a GET from the host; extra curl arguments after the URL
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"
}
mgmt=http://127.0.0.1:$management_port
[[ "$(status_of "$mgmt/live")" == 200 ]] || die "/live without a token is not 200"
[[ "$(status_of "$mgmt/ready")" == 200 ]] || die "/ready without a token is not 200"
[[ "$(status_of "$mgmt/status")" == 401 ]] || die "/status without the token is not 401"
[[ "$(status_of "$mgmt/status" -H "Authorization: Bearer $token")" == 200 ]] || die "/status with the token is not 200"

answer=$(curl -s --max-time 10 "http://127.0.0.1:$http_port/?name=container")
[[ "$answer" == *'"greeting": "hello, container"'* ]] || die "the Python function answered: $answer"
step "the Python function answered: $answer"

# Everything in the container runs as the image's user, and the workers
# are the image's python3, not the host's.
for pid in "$processor_pid" $(pgrep -P "$processor_pid"); do
  uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
  [[ "$uids" == "${user%%:*} ${user%%:*} ${user%%:*} ${user%%:*}" ]] || die "process $pid runs as uid $uids"
done
workers=$(pgrep -P "$processor_pid" | while read -r pid; do readlink "/proc/$pid/exe"; done | sort | uniq -c)
[[ "$workers" == *"$rootfs/usr/bin/python3"* ]] || die "no worker runs the image's python3: $workers"
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
total_rss=0
for pid in "$processor_pid" $(pgrep -P "$processor_pid"); do total_rss=$((total_rss + $(rss_kib "$pid"))); done
say "RSS: processor $(($(rss_kib "$processor_pid") / 1024)) MiB, with its workers $((total_rss / 1024)) MiB"

stop_container

# A check that can fail: with nothing listening, the health check says so.
if [[ "$health_what" == HEALTHCHECK* ]] &&
  env -i PATH=/usr/bin:/bin chroot --userspec="$user" "$rootfs" "${healthcheck[@]}" >/dev/null 2>&1; then
  die "the HEALTHCHECK passed with the processor stopped"
fi

# --- The compose example's function (MQTT) against a broker on this
# machine, as examples/compose runs it beside mosquitto.
if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
  say "NOTE: no mosquitto here (scripts/install.sh installs it): the MQTT function was not run"
else
  broker_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$broker_port" >"$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  helper_pids+=("$!")
  find "$rootfs/function" -mindepth 1 -delete
  cp "$root/examples/compose/function.yaml" "$root/examples/mqtt-python/alerts.py" "$rootfs/function/"
  sed -i "s|tcp://mosquitto:1883|tcp://127.0.0.1:$broker_port|" "$rootfs/function/function.yaml"
  grep -q "127.0.0.1:$broker_port" "$rootfs/function/function.yaml" ||
    die "examples/compose/function.yaml no longer names tcp://mosquitto:1883"
  start_container mqtt
  wait_until healthy || { cat "$log" >&2; die "$health_what did not pass: not connected to the broker?"; }
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'alerts/#' -C 1 -W "$kTimeout" >"$work/alert.txt" 2>&1 &
  subscriber=$!
  helper_pids+=("$subscriber")
  # Readings until the subscriber (which may connect after the first
  # ones) has its alert.
  for ((i = 0; i < kTimeout; i++)); do
    [[ -s "$work/alert.txt" ]] && break
    mosquitto_pub -h 127.0.0.1 -p "$broker_port" -q 1 -t sensors/kitchen/temperature -m 35.2
    sleep 1
  done
  wait "$subscriber" || true
  alert=$(cat "$work/alert.txt")
  [[ "$alert" == *'"celsius": 35.2'* ]] || { cat "$log" >&2; die "no alert from the MQTT function: $alert"; }
  step "the MQTT function published: $alert"
  stop_container
fi
step "all checks passed"
