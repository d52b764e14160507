import type { Analyzer } from "../analyzer.js";

/**
 * The Mesh's Ready condition is not True: the control plane, the CA or
 * injection is not working, so policies may not reach proxies at all. Over
 * files, only a Mesh that carries status (`kubectl get -o yaml`) is judged;
 * read from a cluster, a Mesh with no Ready condition yet has not been
 * reconciled (is the operator running?).
 */
export const meshNotReady: Analyzer = {
  code: "SKF0401",
  severity: "error",
  name: "MeshNotReady",
  fix: "Read the Mesh's conditions (kubectl describe mesh) and fix the first that is not True; check that the operator runs.",
  analyze: (view) => {
    const mesh = view.mesh;
    if (!mesh) return [];
    const ready = mesh.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status === "True" || (ready === undefined && !view.snapshot.complete)) return [];
    return [
      {
        object: { kind: "Mesh", name: mesh.metadata?.name ?? "" },
        field: "status.conditions[Ready]",
        message: ready
          ? `the Mesh is not Ready: ${ready.status}/${ready.reason}${ready.message ? `: ${ready.message.split("\n")[0]}` : ""}`
          : "the Mesh has no Ready condition: the operator has not reconciled it",
      },
    ];
  },
};
