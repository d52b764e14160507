import type { KubernetesObject } from "@kubernetes/client-node";
import type { InformerEvent } from "../k8s/informer.js";

/**
 * Whether an event only changed what compile never reads, for Skiff's own
 * kinds (Mesh and the policies): their status subresource and metadata
 * other than the generation and deletion. The xDS server writes policy
 * status itself; a run for each such write made a new generation, whose
 * status was written again: about fourteen runs and status writes per
 * change with a thousand proxies (the convergence benchmark).
 */
export function onlyStatusChanged(event: InformerEvent<KubernetesObject>): boolean {
  if (event.type !== "update") return false;
  const before = event.old.metadata;
  const after = event.object.metadata;
  return (
    before?.generation !== undefined &&
    before.generation === after?.generation &&
    before.deletionTimestamp === after.deletionTimestamp
  );
}
