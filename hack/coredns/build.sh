#!/usr/bin/env bash
# Builds CoreDNS, with only the plugins that main.go imports, from the Go
# module proxy into the cache, and prints the binary's path on stdout
# (progress goes to stderr).
#
#   hack/coredns/build.sh            # build if missing, print the binary's path
#   hack/coredns/build.sh --print    # print the path, build nothing
#
# Why this exists: Skiff's local node serves cluster DNS (Service names) the
# way a Kubernetes cluster does, with CoreDNS's kubernetes plugin. No package
# registry here ships a CoreDNS binary, and the upstream build compiles in
# every plugin, cloud SDKs included; main.go compiles in a small fixed set.
#
# The binary is ~/.cache/skiff/coredns/<version>-<source hash>/coredns (or
# under $XDG_CACHE_HOME): the hash of go.mod, go.sum and main.go is in the key
# so that a changed plugin list is rebuilt instead of served stale. It appears
# there by one rename, so an interrupted build leaves nothing half-written
# behind and simply starts again next time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

hash=$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" | sha256sum | cut -c1-12)
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/coredns"
dest="$cache_root/$COREDNS_VERSION-$hash/coredns"
if [ "${1:-}" = "--print" ]; then echo "$dest"; exit 0; fi
if [ -x "$dest" ]; then echo "$dest"; exit 0; fi

grep -qE "^\s*(require )?github.com/coredns/coredns $COREDNS_VERSION( // indirect)?\$" "$here/go.mod" || {
  echo "hack/coredns/go.mod does not require github.com/coredns/coredns $COREDNS_VERSION (versions.env); update it as versions.env says" >&2
  exit 1
}

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

# Prints one line per 100 compiled packages so a build of several minutes
# shows it is alive without flooding the terminal.
progress() {
  local n=0 line
  while IFS= read -r line; do
    case "$line" in
      "#"*|*.go:*|go:*) echo "$line" >&2 ;;  # compiler and go-command diagnostics pass through
      *) n=$((n + 1)); [ $((n % 100)) -eq 0 ] && echo "  coredns: $n packages compiled, $((SECONDS - start))s elapsed" >&2 ;;
    esac
  done
  echo "  coredns: done ($n packages), $((SECONDS - start))s elapsed" >&2
}

echo "building CoreDNS $COREDNS_VERSION (a few minutes the first time on 2 cores: the kubernetes plugin brings client-go)" >&2
(cd "$here" && go build -v -p "$(nproc)" -trimpath -ldflags "-s -w" -o "$staging/coredns" . 2>&1) | progress
test -x "$staging/coredns"
# The kubernetes plugin is the reason this build exists: refuse a binary without it.
# (caddy prints one plugin name a line; older releases prefixed "dns.".)
"$staging/coredns" -plugins | grep -qxE "\s*(dns\.)?kubernetes" || {
  echo "hack/coredns/build.sh: the built coredns does not list the kubernetes plugin in -plugins:" >&2
  "$staging/coredns" -plugins >&2
  exit 1
}
chmod 755 "$staging/coredns"
mkdir -p "$(dirname "$dest")"
mv -f "$staging/coredns" "$dest"
echo "CoreDNS $COREDNS_VERSION ready at $dest after $((SECONDS - start))s" >&2
echo "$dest"
