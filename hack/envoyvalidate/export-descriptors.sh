#!/usr/bin/env bash
# Writes src/xds/protos/envoy.binpb: a FileDescriptorSet for the messages
# listed in src/xds/protos/envoy-types.txt, exported from go-control-plane's
# registered types. With --check, fails when the committed file is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos="$here/../../src/xds/protos"
bin=$("$here/build.sh")
types=$(grep -v -e '^#' -e '^$' "$protos/envoy-types.txt")
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  # shellcheck disable=SC2086
  "$bin" -export-descriptors "$tmp" $types
  if ! cmp -s "$tmp" "$protos/envoy.binpb"; then
    echo "src/xds/protos/envoy.binpb is stale; run 'make generate'" >&2
    exit 1
  fi
  echo "Envoy descriptors are up to date"
else
  # shellcheck disable=SC2086
  "$bin" -export-descriptors "$protos/envoy.binpb" $types
  echo "wrote src/xds/protos/envoy.binpb"
fi
