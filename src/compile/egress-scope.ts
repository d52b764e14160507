import type { IPod } from "kubernetes-models/v1";
import type { MeshSpec } from "../api/v1alpha1/generated/mesh.js";
import type { EgressHostModel } from "../ir/model.js";
import { EGRESS_HOSTS_ANNOTATION } from "../mesh/annotations.js";
import { parseEgressHosts, WHOLE_MESH_EGRESS } from "../mesh/egress-hosts.js";

/**
 * A sidecar workload's egress scope: its Pod's annotation, else the Mesh's
 * `defaults.egressHosts`, with `.` replaced by the Pod's namespace, sorted
 * and without repeats (so equal scopes are equal lists). Undefined when it
 * is the whole mesh (one of the hosts is WHOLE_MESH_EGRESS).
 *
 * An annotation the injector would refuse (it can only be added after
 * admission) gets the workload the whole mesh, which is always correct,
 * only larger.
 */
export function egressScope(spec: MeshSpec | undefined, pod: IPod): EgressHostModel[] | undefined {
  const hosts = annotatedHosts(pod) ?? spec?.defaults?.egressHosts ?? [WHOLE_MESH_EGRESS];
  if (hosts.includes(WHOLE_MESH_EGRESS)) return undefined;
  const namespace = pod.metadata?.namespace ?? "";
  const resolved = new Map<string, EgressHostModel>();
  for (const host of hosts) {
    const slash = host.indexOf("/");
    const ns = host.slice(0, slash);
    const model = { namespace: ns === "." ? namespace : ns, dnsName: host.slice(slash + 1) };
    resolved.set(`${model.namespace}/${model.dnsName}`, model);
  }
  return [...resolved.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, host]) => host);
}

/** The scope as a WorkloadModel's optional field. */
export function egressScopeOf(hosts: readonly EgressHostModel[] | undefined): {
  egress?: readonly EgressHostModel[];
} {
  return hosts ? { egress: hosts } : {};
}

function annotatedHosts(pod: IPod): string[] | undefined {
  const value = pod.metadata?.annotations?.[EGRESS_HOSTS_ANNOTATION];
  if (value === undefined) return undefined;
  try {
    return parseEgressHosts(value);
  } catch {
    return [WHOLE_MESH_EGRESS];
  }
}
