#!/usr/bin/env bash
# Cross-builds edgefn for arm64 (aarch64) and runs its tests under qemu-user.
#
#   scripts/cross-arm64.sh [extra ctest args...]   e.g. scripts/cross-arm64.sh -R unit
#
# 1. Installs Debian's cross toolchain (crossbuild-essential-arm64) and
#    qemu-user on the host.
# 2. Makes an arm64 sysroot in build-arm64/sysroot: the arm64 .debs of the
#    build's dependencies and their runtime closure (an arm64 python3.11
#    included, for the Python worker), resolved by apt with a private
#    state directory that knows arm64 alone, then unpacked with dpkg -x.
#    Nothing :arm64 is installed on the host: several -dev packages are not
#    Multi-Arch: same, and installing them would remove the amd64 ones.
# 3. Builds the whole tree into build-arm64/ with
#    cmake/toolchains/aarch64-linux-gnu.cmake.
# 4. Runs the suite with CTest: every arm64 binary (unit tests, the
#    processor, the Python worker's interpreter) under
#    `qemu-aarch64 -L build-arm64/sysroot`, called explicitly (no
#    binfmt_misc needed); the test drivers themselves are the host's python3.
#
# Environment:
#   EDGEFN_CMAKE_ARGS    extra configure args, split on spaces
#                        (e.g. -DEDGEFN_WERROR=ON, or a static build's option)
#   EDGEFN_BUILD_TYPE    CMAKE_BUILD_TYPE (default: Release)
#   EDGEFN_JOBS          parallel build jobs (default: 2)
#   EDGEFN_TEST_JOBS     tests at once (default: EDGEFN_JOBS)
#   EDGEFN_ARM64_DIR     build tree (default: <repo>/build-arm64)
#   EDGEFN_SKIP_INSTALL  1: skip the host packages and the sysroot's refresh
#                        (the sysroot must already be there)
#   EDGEFN_SKIP_TESTS    1: build only
# Needs the package mirror. A first run takes tens of minutes on 2 cores
# (README, "Build for arm64"), most of it the build; not a .ci/run stage.
# qemu-user checks the build, the ABI and the logic on arm64, not arm64's
# weak memory ordering (an x86 host runs every emulated access in its own
# stronger order): docs/RELIABILITY.md says what checks the ring's ordering.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
arm_dir=${EDGEFN_ARM64_DIR:-$root/build-arm64}
sysroot=$arm_dir/sysroot
apt_dir=$arm_dir/apt
jobs=${EDGEFN_JOBS:-2}
started=$SECONDS

readonly kHostPackages=(crossbuild-essential-arm64 qemu-user cmake pkg-config python3 ccache)

# The arm64 packages the sysroot is made of; apt adds their dependencies.
readonly kSysrootPackages=(
  # The toolchain's side: the C library, libstdc++ and the kernel headers
  # as the arm64 distribution has them, so --sysroot finds all of them.
  libc6-dev libstdc++-12-dev linux-libc-dev
  # scripts/install.sh's build dependencies.
  libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev libexpected-dev
  libcctz-dev catch2 libssl-dev librdkafka-dev
  # librdkafka's own dependencies as -dev packages (their static archives
  # for a static build) and the static build's time-zone code.
  zlib1g-dev liblz4-dev libzstd-dev libsasl2-dev libabsl-dev
  # An arm64 Python for the Python worker (the host's amd64 python3 cannot
  # load the arm64 ring helper) and the zone database cctz reads.
  python3.11-minimal libpython3.11-stdlib tzdata
)

log() { echo "cross-arm64: $*"; }

install_host_packages() {
  local missing=() pkg
  for pkg in "${kHostPackages[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^.i' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return
  fi
  log "installing on the host: ${missing[*]}"
  local as_root=()
  ((EUID == 0)) || as_root=(sudo)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 \
    install -y --no-install-recommends "${missing[@]}"
}

# apt-get with a private state of its own under build-arm64/apt: the host's
# sources, arm64 as the only architecture, an empty dpkg status (so every
# dependency down to libc6 is resolved) and its own download cache. The
# host's apt and dpkg state are neither read nor changed.
arm64_apt() {
  apt-get -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::State::status="$apt_dir/status" \
    -o Dir::Cache::Archives="$apt_dir/archives" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
    -o Debug::NoLocking=1 "$@"
}

# Rewrites each absolute symlink in the sysroot (libfoo.so ->
# /lib/aarch64-linux-gnu/libfoo.so.1, ...) to a relative one, so it points
# into the sysroot rather than at the host's files (or nowhere).
relativize_symlinks() {
  local link target
  while IFS= read -r -d '' link; do
    target=$(readlink -- "$link")
    [[ "$target" == /* ]] || continue
    ln -sfn -- "$(realpath -m --relative-to="$(dirname -- "$link")" -- "$sysroot$target")" "$link"
  done < <(find "$sysroot" -type l -print0)
}

make_sysroot() {
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
  : >"$apt_dir/status"
  log "resolving the arm64 packages"
  arm64_apt update >"$apt_dir/update.log" 2>&1 || { cat "$apt_dir/update.log" >&2; exit 1; }
  # What would be installed on an empty arm64 system is the closure; each
  # "Inst NAME (VERSION ... [ARCH])" line names a .deb as apt saves it
  # (an epoch's ':' as %3a).
  local debs=()
  mapfile -t debs < <(arm64_apt install -s -y --no-install-recommends "${kSysrootPackages[@]}" |
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*\[\([a-z0-9]*\)\]).*/\1_\2_\3.deb/p' | sed 's/:/%3a/' | sort)
  local stamp="$sysroot/.edgefn-debs"
  if [[ -f "$stamp" ]] && diff -q "$stamp" <(printf '%s\n' "${debs[@]}") >/dev/null; then
    log "sysroot up to date (${#debs[@]} packages)"
    return
  fi
  log "downloading ${#debs[@]} arm64 packages"
  arm64_apt install --download-only -y --no-install-recommends "${kSysrootPackages[@]}" \
    >"$apt_dir/download.log" 2>&1 || { cat "$apt_dir/download.log" >&2; exit 1; }
  log "unpacking them into $sysroot"
  rm -rf -- "$sysroot"
  mkdir -p "$sysroot"
  local deb
  for deb in "${debs[@]}"; do
    dpkg -x "$apt_dir/archives/$deb" "$sysroot"
  done
  relativize_symlinks
  printf '%s\n' "${debs[@]}" >"$stamp"
}

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  install_host_packages
  make_sysroot
elif [[ ! -f "$sysroot/.edgefn-debs" ]]; then
  log "no sysroot in $sysroot: run without EDGEFN_SKIP_INSTALL=1 first" >&2
  exit 1
fi

read -r -a env_args <<<"${EDGEFN_CMAKE_ARGS:-}"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
fi
build_started=$SECONDS
cmake -S "$root" -B "$arm_dir" -DCMAKE_BUILD_TYPE="${EDGEFN_BUILD_TYPE:-Release}" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DEDGEFN_ARM64_SYSROOT="$sysroot" ${launcher[@]+"${launcher[@]}"} ${env_args[@]+"${env_args[@]}"}
cmake --build "$arm_dir" -j "$jobs"
log "built in $((SECONDS - build_started)) s: $(file -b "$arm_dir/bin/processor" | cut -d, -f1-2)"

if [[ "${EDGEFN_SKIP_TESTS:-0}" == 1 ]]; then
  log "done in $((SECONDS - started)) s (tests skipped)"
  exit 0
fi
tests_started=$SECONDS
ctest --test-dir "$arm_dir" --output-on-failure --no-tests=error -j "${EDGEFN_TEST_JOBS:-$jobs}" "$@"
log "tests under qemu took $((SECONDS - tests_started)) s; done in $((SECONDS - started)) s"
