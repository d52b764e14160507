import type { KubernetesObject } from "@kubernetes/client-node";

/** What the rule reads of a Mesh, whichever type describes it (the API's, the client's). */
interface MeshLike {
  readonly metadata?: { name?: string; creationTimestamp?: unknown; deletionTimestamp?: unknown };
}

/**
 * There is one mesh per cluster: among Meshes not being deleted, the oldest
 * (ties broken by name). This returns it, or undefined when there is none.
 * Pure.
 */
export function activeMesh<M extends MeshLike>(meshes: readonly M[]): M | undefined {
  const live = meshes
    .filter((m) => !m.metadata?.deletionTimestamp)
    .sort((a, b) => {
      const ta = String(a.metadata?.creationTimestamp ?? "");
      const tb = String(b.metadata?.creationTimestamp ?? "");
      return ta < tb ? -1 : ta > tb ? 1 : (a.metadata?.name ?? "") < (b.metadata?.name ?? "") ? -1 : 1;
    });
  return live[0];
}

/** The active Mesh's name when it is not `name`; undefined when `name` is the mesh (or there is none). Pure. */
export function activeMeshOtherThan(name: string, meshes: readonly KubernetesObject[]): string | undefined {
  const winner = activeMesh(meshes)?.metadata?.name;
  return winner === undefined || winner === name ? undefined : winner;
}
