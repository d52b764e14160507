#!/usr/bin/env bash
# Builds fortio (load generator, echo server, HTTP/gRPC client) from the Go
# module proxy into the cache, and prints the binary's path on stdout
# (progress goes to stderr).
#
#   hack/fortio/build.sh            # build if missing, print the binary's path
#   hack/fortio/build.sh --print    # print the path, build nothing
#
# Why this exists: Skiff's local node and its tests need a known HTTP/gRPC
# peer and load generator on both sides of an Envoy, pinned to one release;
# no package registry here ships a fortio binary, so it is built from source.
# The wrapper module in this folder pins it (`tool fortio.org/fortio`), and
# grolstub/ stands in for fortio's scripting language, which the module proxy
# does not serve (see grolstub/go.mod): `fortio script` is the one command
# missing from this build.
#
# The binary is ~/.cache/skiff/fortio/<version>/fortio (or under
# $XDG_CACHE_HOME). It appears there by one rename, so an interrupted build
# leaves nothing half-written behind and simply starts again next time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/fortio"
dest="$cache_root/$FORTIO_VERSION/fortio"
if [ "${1:-}" = "--print" ]; then echo "$dest"; exit 0; fi
if [ -x "$dest" ]; then echo "$dest"; exit 0; fi

grep -qE "^\s*fortio.org/fortio $FORTIO_VERSION( // indirect)?\$" "$here/go.mod" || {
  echo "hack/fortio/go.mod does not require fortio.org/fortio $FORTIO_VERSION (versions.env); update it as versions.env says" >&2
  exit 1
}

export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

echo "building fortio $FORTIO_VERSION (about a minute the first time on 2 cores)" >&2
(cd "$here" && go build -p "$(nproc)" -trimpath -ldflags "-s -w" -o "$staging/fortio" fortio.org/fortio) >&2
chmod 755 "$staging/fortio"
mkdir -p "$(dirname "$dest")"
mv -f "$staging/fortio" "$dest"
echo "fortio $FORTIO_VERSION ready at $dest after $((SECONDS - start))s" >&2
echo "$dest"
