#!/usr/bin/env bash
# Validates the Kubernetes manifests in config/k8s/ offline: each object
# against the schema of its apiVersion and kind (npm's kubernetes-models,
# see scripts/check-k8s/validate.cjs), and each function a ConfigMap holds
# with `processor validate` (its function.yaml, and its Python handler
# parses and defines the function).
#
#   scripts/check-k8s.sh [FILE.yaml...]     default: config/k8s/*.yaml
#
# Needs node and npm; the first run installs the pinned packages
# (scripts/check-k8s/package-lock.json) from the npm registry into
# scripts/check-k8s/node_modules (git-ignored), later runs need no network.
# Environment: EDGEFN_BUILD_DIR (default build/) for the processor; without
# one the function check is skipped with a note.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${EDGEFN_BUILD_DIR:-$root/build}
check_dir=$root/scripts/check-k8s

for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "check-k8s: $tool is missing (apt-get install nodejs npm)" >&2; exit 1; }
done
# npm ci installs exactly the lock file's versions; it is redone only when
# the lock file changed since (the stamp is a copy of the one installed).
stamp=$check_dir/node_modules/.edgefn-installed-lock.json
if ! cmp -s "$check_dir/package-lock.json" "$stamp" 2>/dev/null; then
  echo "check-k8s: installing the pinned npm packages into scripts/check-k8s/node_modules"
  (cd "$check_dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$check_dir/package-lock.json" "$stamp"
fi

# First the validator must fail where it should: scripts/check-k8s/broken.yaml
# holds one known problem per document.
broken=$check_dir/broken.yaml
if report=$(node "$check_dir/validate.cjs" "$broken" 2>&1); then
  echo "check-k8s: the validator passed $broken, which is broken on purpose" >&2
  exit 1
fi
while IFS= read -r expected; do
  grep -qF -- "$expected" <<<"$report" ||
    { printf 'check-k8s: the validator did not report "%s" in %s; it said:\n%s\n' "$expected" "$broken" "$report" >&2; exit 1; }
done < <(sed -n 's/^# expect: //p' "$broken")
echo "check-k8s: the validator reports the $(grep -c '^# expect: ' "$broken") known problems of $(basename "$broken")"

if (($# == 0)); then
  set -- "$root"/config/k8s/*.yaml
fi
functions=$(mktemp -d)
trap 'rm -rf -- "$functions"' EXIT
node "$check_dir/validate.cjs" --configmaps "$functions" "$@"

processor=$build_dir/bin/processor
if [[ ! -x "$processor" ]]; then
  echo "check-k8s: no $processor: the ConfigMaps' functions were not checked (scripts/build.sh builds it)"
  exit 0
fi
status=0
for config in "$functions"/*/function.yaml; do
  [[ -e "$config" ]] || continue
  if ! "$processor" validate "$config" >/dev/null 2>"$functions/validate.err"; then
    echo "check-k8s: ConfigMap $(basename "$(dirname "$config")"): processor validate failed:" >&2
    sed "s|$functions/||g" "$functions/validate.err" >&2
    status=1
  fi
done
((status == 0)) && echo "check-k8s: the ConfigMaps' functions pass processor validate"
exit "$status"
