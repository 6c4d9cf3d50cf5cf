#!/usr/bin/env bash
# Build helm from source with the Go toolchain (no binary download): the chart tests need it.
# Cached in $HOME/.cache/tessera/bin; skipped when the binary there is already this version.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
bin_dir="$HOME/.cache/tessera/bin"
helm_bin="$bin_dir/helm"

# `go install` builds without the release ldflags, so `helm version` prints only "v3.19";
# the module version recorded in the binary is exact.
installed_version() {
  [ -x "$helm_bin" ] || return 0
  if command -v go >/dev/null; then
    go version -m "$helm_bin" 2>/dev/null | awk '$1 == "mod" && $2 == "helm.sh/helm/v3" {print $3}'
  else
    "$helm_bin" version --template '{{.Version}}' 2>/dev/null || true
  fi
}

current="$(installed_version)"
if [ "$current" = "$HELM_VERSION" ]; then
  echo "--- helm $HELM_VERSION already in $bin_dir"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: go is not installed; it is needed to build helm $HELM_VERSION" >&2
  exit 1
fi
echo "--- building helm $HELM_VERSION into $bin_dir${current:+ (found $current)}"
mkdir -p "$bin_dir"
started=$(date +%s)
GOBIN="$bin_dir" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "--- helm $HELM_VERSION built in $(( $(date +%s) - started ))s: $("$helm_bin" version --short)"
