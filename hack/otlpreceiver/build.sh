#!/usr/bin/env bash
# Builds the OTLP test receiver (main.go) into
# ~/.cache/skiff/otlpreceiver/<source hash>/ and prints the binary's path.
# Progress goes to stderr; an unchanged source is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hash=$(cat "$here"/go.mod "$here"/go.sum "$here"/*.go | sha256sum | cut -c1-16)
dest="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/otlpreceiver/$hash"
if [ ! -x "$dest/otlpreceiver" ]; then
  echo "building the OTLP test receiver (opentelemetry-proto and grpc-go)" >&2
  mkdir -p "$dest"
  (cd "$here" && GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$dest/otlpreceiver.tmp" .)
  mv "$dest/otlpreceiver.tmp" "$dest/otlpreceiver"
fi
echo "$dest/otlpreceiver"
