#!/usr/bin/env bash
# Build a real Kubernetes API server and its storage from Go modules (no container runtime,
# no binary download): the chart tests install the chart on them (tests/chart/test_release_lifecycle.py and its siblings).
#   kube-apiserver-vX.Y.Z  k8s.io/kubernetes/cmd/kube-apiserver, one per Kubernetes version:
#                          the chart's kubeVersion floor and the newest release
#   kine-vA.B.C            github.com/k3s-io/kine: the etcd API over SQLite
# Cached in $HOME/.cache/tessera/bin by version; a binary already there is not rebuilt. The
# Go module and build caches stay where Go keeps them, so a rerun here downloads nothing.
set -euo pipefail
KUBE_VERSIONS="${KUBE_VERSIONS:-v1.29.15 v1.37.2}"
KINE_VERSION="${KINE_VERSION:-v0.17.5}"
bin_dir="$HOME/.cache/tessera/bin"
build_root="$HOME/.cache/tessera/kube-build"
# Never fetch another Go toolchain: build with the one installed.
export GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:--buildvcs=false}"

mkdir -p "$bin_dir"

need_go() {
  if ! command -v go >/dev/null; then
    echo "error: go is not installed; it is needed to build $1" >&2
    exit 1
  fi
}

# The stamped version: what `kube-apiserver --version` prints ("Kubernetes v1.37.2").
apiserver_version() {
  [ -x "$1" ] || return 0
  "$1" --version 2>/dev/null | awk '{print $2}' || true
}

build_apiserver() {
  local version="$1" target="$bin_dir/kube-apiserver-$1"
  if [ "$(apiserver_version "$target")" = "$version" ]; then
    echo "--- kube-apiserver $version already in $bin_dir"
    return
  fi
  need_go "kube-apiserver $version"
  echo "--- building kube-apiserver $version into $bin_dir"
  local started work gomod minor staging
  started=$(date +%s)
  work="$build_root/$version"
  minor="${version#v1.}"
  minor="${minor%%.*}"
  staging="v0.${version#v1.}"
  gomod="$(go mod download -json "k8s.io/kubernetes@$version" | awk -F'"' '$2 == "GoMod" {print $4}')"
  # k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, ...) at
  # v0.0.0 and replaces them by directories of its own tree; replaces of a dependency do not
  # apply, so this module replaces each by its published release of the same version.
  mkdir -p "$work"
  {
    echo "module tessera.invalid/kube-build"
    echo
    # The same language version and GODEBUG defaults as the Kubernetes release itself.
    grep -E '^(go|godebug) ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// {print "replace " $1 " => " $1 " " v}' "$gomod"
  } >"$work/go.mod"
  (
    cd "$work"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$version" >/dev/null
    # Without the version stamp the server reports v0.0.0 and helm refuses the chart's
    # kubeVersion; -s -w drops the symbol table (half the size). providerless leaves out the
    # in-tree cloud providers (the Azure, GCE and vSphere SDKs: 40% of 1.29's Go source,
    # none in 1.37), which the tests do not use: it halves the 1.29 build.
    nice -n 10 go build -tags providerless -o "$target.tmp" \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      k8s.io/kubernetes/cmd/kube-apiserver
  )
  mv "$target.tmp" "$target"
  echo "--- kube-apiserver $version built in $(($(date +%s) - started))s: $("$target" --version)"
}

build_kine() {
  local target="$bin_dir/kine-$KINE_VERSION"
  if [ -x "$target" ] && [ "$("$target" --version 2>/dev/null | awk '{print $3}')" = "$KINE_VERSION" ]; then
    echo "--- kine $KINE_VERSION already in $bin_dir"
    return
  fi
  need_go "kine $KINE_VERSION"
  echo "--- building kine $KINE_VERSION into $bin_dir"
  local started
  started=$(date +%s)
  # SQLite through cgo (mattn/go-sqlite3): needs a C compiler, which Debian's build-essential
  # has. `go build pkg@version` does not exist; `go install` puts the binary in GOBIN.
  GOBIN="$build_root/kine-$KINE_VERSION" CGO_ENABLED=1 nice -n 10 go install \
    -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=$KINE_VERSION" \
    "github.com/k3s-io/kine@$KINE_VERSION"
  mv "$build_root/kine-$KINE_VERSION/kine" "$target"
  echo "--- kine $KINE_VERSION built in $(($(date +%s) - started))s: $("$target" --version)"
}

build_kine
for version in $KUBE_VERSIONS; do
  build_apiserver "$version"
done
