#!/usr/bin/env bash
# Builds the xDS benchmark's Go half (a go-control-plane peer server and an
# ADS load generator) into ~/.cache/skiff/xdsbench/<source hash>/ and prints
# the binary's path. Progress goes to stderr; an unchanged source is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go | sha256sum | cut -c1-16)
dest="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/xdsbench/$hash"
if [ ! -x "$dest/xdsbench" ]; then
  echo "building xdsbench (go-control-plane peer and ADS load generator; about a minute the first time)" >&2
  mkdir -p "$dest"
  (cd "$here" && GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$dest/xdsbench.tmp" .)
  mv "$dest/xdsbench.tmp" "$dest/xdsbench"
fi
echo "$dest/xdsbench"
