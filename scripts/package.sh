#!/usr/bin/env bash
# Builds the Debian package: installs what the build needs, builds the
# Release tree (build/, the same one scripts/test.sh uses) and runs CPack
# into dist/.
#
#   scripts/package.sh [extra cmake configure args...]
#
# Environment: as scripts/build.sh; EDGEFN_SKIP_INSTALL=1 skips the install
# step. Prints the .deb's path and how to install it.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
dist_dir=$root/dist

if [[ "${EDGEFN_SKIP_INSTALL:-0}" != 1 ]]; then
  # dpkg-dev (dpkg-shlibdeps: the package's library dependencies) and
  # systemd (systemd-analyze, for the package test) are in the list.
  "$root/scripts/install.sh"
fi
"$root/scripts/build.sh" "$@"

mkdir -p "$dist_dir"
# The unit's ExecStart comes from the install prefix CPack uses (/usr).
(cd "$build_dir" && cpack -G DEB -B "$dist_dir" >"$dist_dir/cpack.log") || {
  cat "$dist_dir/cpack.log" >&2
  exit 1
}
rm -rf "$dist_dir/_CPack_Packages"
deb=$(ls -t "$dist_dir"/edgefn_*.deb | head -n 1)
echo "package.sh: built $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends Recommends
cat <<EOT

Install it (pulls python3 and what the binary links):
  sudo apt install $deb
Then run a function as a service:
  sudo mkdir -p /etc/edgefn/hello && sudo cp -r /usr/share/doc/edgefn/examples/hello-python/. /etc/edgefn/hello/
  sudo systemctl enable --now processor@hello && curl http://127.0.0.1:8080/
EOT
