#!/usr/bin/env bash
# Builds the Envoy config validator (go-control-plane's ValidateAll) into
# ~/.cache/skiff/envoyvalidate/<source hash>/ and prints the binary's path.
# Progress goes to stderr; an unchanged source is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go | sha256sum | cut -c1-16)
dest="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/envoyvalidate/$hash"
if [ ! -x "$dest/envoyvalidate" ]; then
  echo "building the Envoy config validator (go-control-plane; about a minute the first time)" >&2
  mkdir -p "$dest"
  (cd "$here" && GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$dest/envoyvalidate.tmp" .)
  mv "$dest/envoyvalidate.tmp" "$dest/envoyvalidate"
fi
echo "$dest/envoyvalidate"
