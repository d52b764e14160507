import type { KubernetesObject } from "@kubernetes/client-node";
import { canonicalJson } from "../../k8s/canonical.js";
import type { InformerEvent } from "../../k8s/informer.js";

/**
 * Whether a Mesh event changed nothing but status.connectedProxies, which
 * the xDS server rewrites as proxies come and go: the reconciler reads
 * nothing of it, so such an event needs no reconcile (without this, every
 * rollout of meshed Pods made a full reconcile per status write). A resync
 * (same resourceVersion) is not such an event: it is how drift is re-checked.
 */
export function onlyProxyCountChanged(event: InformerEvent<KubernetesObject>): boolean {
  if (event.type !== "update") return false;
  const { old, object } = event;
  if (old.metadata?.resourceVersion === object.metadata?.resourceVersion) return false;
  return canonicalJson(withoutProxyCount(old)) === canonicalJson(withoutProxyCount(object));
}

/** The object without what a connectedProxies write changes: that field, its resourceVersion and managedFields. */
function withoutProxyCount(object: KubernetesObject & { status?: object }): object {
  const { resourceVersion: _version, managedFields: _managed, ...metadata } = object.metadata ?? {};
  const { connectedProxies: _count, ...status } = (object.status ?? {}) as { connectedProxies?: number };
  return { ...object, metadata, status };
}
