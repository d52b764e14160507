#!/usr/bin/env bash
# Fails when the wrapper modules do not build the versions named in
# versions.env (someone edited one without running generate-wrappers.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
grep -q "^require k8s.io/kubernetes $KUBE_VERSION\$" "$here/kube/go.mod" ||
  grep -qE "^\s+k8s.io/kubernetes $KUBE_VERSION( // indirect)?\$" "$here/kube/go.mod" ||
  { echo "hack/controlplane/kube/go.mod does not require k8s.io/kubernetes $KUBE_VERSION; run hack/controlplane/generate-wrappers.sh" >&2; exit 1; }
staging="v0.${KUBE_VERSION#v1.}"
if grep -E '=> k8s.io/\S+ v0\.' "$here/kube/go.mod" | grep -v " $staging\$" >&2; then
  echo "hack/controlplane/kube/go.mod maps staging modules to a version other than $staging" >&2; exit 1
fi
grep -qE "go.etcd.io/etcd/server/v3 $ETCD_VERSION( // indirect)?\$" "$here/etcd/go.mod" ||
  { echo "hack/controlplane/etcd/go.mod does not require etcd $ETCD_VERSION; run hack/controlplane/generate-wrappers.sh" >&2; exit 1; }
