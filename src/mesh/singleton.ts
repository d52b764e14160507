import type { KubernetesObject } from "@kubernetes/client-node";

/**
 * There is one mesh per cluster. Among Meshes not being deleted, the oldest
 * (ties broken by name) is the mesh; this returns its name when it is not
 * `name`, and undefined when `name` is the mesh. Pure.
 */
export function activeMeshOtherThan(name: string, meshes: readonly KubernetesObject[]): string | undefined {
  const live = meshes
    .filter((m) => !m.metadata?.deletionTimestamp)
    .sort((a, b) => {
      const ta = String(a.metadata?.creationTimestamp ?? "");
      const tb = String(b.metadata?.creationTimestamp ?? "");
      return ta < tb ? -1 : ta > tb ? 1 : (a.metadata?.name ?? "") < (b.metadata?.name ?? "") ? -1 : 1;
    });
  const winner = live[0]?.metadata?.name;
  return winner === undefined || winner === name ? undefined : winner;
}
