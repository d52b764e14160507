#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-proxy, kubectl and etcd from the Go module proxy into the
# cache folder, and prints that folder on stdout (progress goes to stderr).
#
#   hack/controlplane/build.sh            # build if missing, print the folder
#   hack/controlplane/build.sh --print    # print the folder, build nothing
#
# The folder is ~/.cache/skiff/controlplane/kube-<v>_etcd-<v> (or under
# $XDG_CACHE_HOME); it is filled atomically, so an interrupted build leaves
# nothing half-written behind and simply starts again next time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/controlplane"
dest="$cache_root/kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}"
if [ "${1:-}" = "--print" ]; then echo "$dest"; exit 0; fi
binaries=(kube-apiserver kube-controller-manager kube-proxy kubectl etcd)
complete=true
for b in "${binaries[@]}"; do [ -x "$dest/$b" ] || complete=false; done
if $complete; then echo "$dest"; exit 0; fi

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

# Prints one line per 100 compiled packages so a multi-minute build shows it
# is alive without flooding the terminal.
progress() {
  local what=$1 n=0 line
  while IFS= read -r line; do
    case "$line" in
      "#"*|*.go:*|go:*) echo "$line" >&2 ;;  # compiler and go-command diagnostics pass through
      *) n=$((n + 1)); [ $((n % 100)) -eq 0 ] && echo "  $what: $n packages compiled, $((SECONDS - start))s elapsed" >&2 ;;
    esac
  done
  echo "  $what: done ($n packages), $((SECONDS - start))s elapsed" >&2
}

build() { # module-dir output main-package version-ldflags
  local dir=$1 out=$2 pkg=$3 ldflags=$4
  echo "building $out from $pkg (the first build takes several minutes on 2 cores)" >&2
  (cd "$here/$dir" && go build -v -p "$(nproc)" -pgo=off -trimpath -ldflags "-s -w $ldflags" -o "$staging/$out" "$pkg" 2>&1) | progress "$out"
  test -x "$staging/$out"
}

minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
kube_ldflags="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$kube_ldflags"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build etcd etcd go.etcd.io/etcd/server/v3 ""

chmod 755 "$staging"
rm -rf "$dest"
mv "$staging" "$dest"
trap - EXIT
echo "control-plane binaries ready in $dest after $((SECONDS - start))s" >&2
echo "$dest"
