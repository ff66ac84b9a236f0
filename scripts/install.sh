#!/usr/bin/env bash
# Installs what edgefn needs to build and test, from Debian 12 packages.
#
#   scripts/install.sh          build and test dependencies
#   scripts/install.sh --bench  also what bench/ uses (nginx, wrk)
#
# Works as root on a minimal Debian 12 with nothing else installed, or as a
# user with sudo. When every package is already installed it does nothing
# and touches no apt state, so calling it before every build is cheap.
# No service is started: a policy-rc.d that forbids it is in place for the
# duration of the install and the previous one (if any) is restored after.
set -euo pipefail

readonly kBuildPackages=(
  g++ make cmake pkg-config
  libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libexpected-dev
  # Cron's time zones: cctz as Abseil carries it (src/trigger/cron/cron_schedule.hpp).
  libabsl-dev tzdata
  # The static build (cmake/static_build.cmake, the Release default) links
  # the archives these ship, with libyaml-cpp-dev's, librdkafka-dev's and
  # libssl-dev's, and librdkafka's compression libraries.
  zlib1g-dev liblz4-dev libzstd-dev
  catch2 python3 python3-venv curl procps
  # The fuzz targets (scripts/fuzz.sh): libFuzzer is clang's, and its
  # runtime is in libclang-rt-14-dev, which clang-14 only recommends.
  clang-14 libclang-rt-14-dev
  # The MQTT trigger: TLS (Asio's SSL stream) and its tests' real broker,
  # whose certificates the tests make with the openssl CLI.
  mosquitto mosquitto-clients openssl libssl-dev
  # The Kafka trigger and test/tools/kafka-mock (librdkafka's mock
  # cluster); kcat is the tests' and bench/kafka's stock client.
  librdkafka-dev kcat
  # promtool, which test_metrics.py runs on the /metrics exposition.
  prometheus
  # The .deb (scripts/package.sh, test_package.py): dpkg-shlibdeps for its
  # library dependencies, systemd-analyze to verify its unit.
  dpkg-dev systemd
)
# Debian 12's nginx package is the plain server (nginx-light only adds a
# module on top of it).
readonly kBenchPackages=(
  nginx wrk
  # bench/mqtt's peer: Node-RED, installed with npm into build/bench-cache.
  nodejs npm
)

usage() {
  echo "usage: $0 [--bench]" >&2
  exit 2
}

want_bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    -h | --help) usage ;;
    *) echo "install.sh: unknown argument: $arg" >&2; usage ;;
  esac
done

wanted=("${kBuildPackages[@]}")
if ((want_bench)); then
  wanted+=("${kBenchPackages[@]}")
fi

# Prints the packages of "$@" that are not installed. An entry "a|b" is
# satisfied by either package; the first is printed when neither is there.
missing_packages() {
  local installed entry alt found
  local -a alts
  # ${db:Status-Abbrev} is "ii " for an installed package; its second letter
  # is the current state ('i' = installed, 'c' = config files only, ...).
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' 2>/dev/null |
    awk 'substr($2, 2, 1) == "i" { print $1 }')
  for entry in "$@"; do
    found=0
    IFS='|' read -r -a alts <<<"$entry"
    for alt in "${alts[@]}"; do
      if grep -qxF -- "$alt" <<<"$installed"; then
        found=1
        break
      fi
    done
    ((found)) || echo "${alts[0]}"
  done
}

mapfile -t to_install < <(missing_packages "${wanted[@]}")
if ((${#to_install[@]} == 0)); then
  echo "install.sh: all ${#wanted[@]} packages already installed"
  exit 0
fi

as_root=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install.sh: must run as root, or as a user with sudo, to install: ${to_install[*]}" >&2
    exit 1
  fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install.sh: apt-get not found; edgefn's scripts support Debian 12 (bookworm)." >&2
  echo "install.sh: install these packages (or their equivalents) by hand: ${to_install[*]}" >&2
  exit 1
fi

readonly kPolicy=/usr/sbin/policy-rc.d
readonly kPolicySaved=/usr/sbin/policy-rc.d.edgefn-saved
readonly kPolicyMarker='# edgefn install.sh: no service starts during the install'

# Our policy-rc.d is recognised by its marker line, so a run that was killed
# before it could restore the previous one is repaired by the next run.
policy_is_ours() {
  [[ -f "$kPolicy" ]] && grep -qxF -- "$kPolicyMarker" "$kPolicy"
}

restore_policy() {
  if policy_is_ours; then
    if [[ -e "$kPolicySaved" ]]; then
      "${as_root[@]}" mv -f -- "$kPolicySaved" "$kPolicy"
    else
      "${as_root[@]}" rm -f -- "$kPolicy"
    fi
  fi
}

install_policy() {
  if ! policy_is_ours && [[ -e "$kPolicy" || -L "$kPolicy" ]]; then
    "${as_root[@]}" mv -f -- "$kPolicy" "$kPolicySaved"
  fi
  local tmp
  tmp=$(mktemp)
  printf '#!/bin/sh\n%s\n# (removed again when the install ends)\nexit 101\n' "$kPolicyMarker" >"$tmp"
  "${as_root[@]}" install -m 0755 -- "$tmp" "$kPolicy.edgefn-new"
  "${as_root[@]}" mv -f -- "$kPolicy.edgefn-new" "$kPolicy"
  rm -f -- "$tmp"
}

restore_policy # left over from an interrupted run
trap restore_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
install_policy

echo "install.sh: installing: ${to_install[*]}"
apt_env=(env DEBIAN_FRONTEND=noninteractive)
apt_opts=(-q -o DPkg::Lock::Timeout=300)
"${as_root[@]}" "${apt_env[@]}" apt-get "${apt_opts[@]}" update
"${as_root[@]}" "${apt_env[@]}" apt-get "${apt_opts[@]}" install -y --no-install-recommends "${to_install[@]}"

mapfile -t still_missing < <(missing_packages "${wanted[@]}")
if ((${#still_missing[@]} != 0)); then
  echo "install.sh: still not installed after apt-get: ${still_missing[*]}" >&2
  exit 1
fi
echo "install.sh: done"
