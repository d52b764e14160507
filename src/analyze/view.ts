import type { IPod } from "kubernetes-models/v1";
import { DEFAULT_INJECTION_SELECTOR } from "../api/v1alpha1/mesh.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { compile, type CompileResult } from "../compile/compile.js";
import { selectorMatches, type LabelSelector } from "../k8s/selector.js";
import { activeMesh } from "../mesh/singleton.js";
import type { Snapshot } from "./snapshot.js";

/** What every analyzer reads: the snapshot, the mesh, and compile's view of it. */
export interface AnalysisView {
  readonly snapshot: Snapshot;
  /** The cluster's one Mesh (the oldest), if the snapshot has one. */
  readonly mesh?: Mesh;
  /** The same compile as the xDS server, the webhook and status run. */
  readonly compiled: CompileResult;
  /** Namespaces whose labels the Mesh's injection selector matches: new Pods there get a sidecar. */
  readonly meshedNamespaces: ReadonlySet<string>;
  /** Whether the snapshot shows every object of `kind` in `namespace` (see Snapshot.complete). */
  observes(kind: string, namespace: string): boolean;
}

export function analysisView(snapshot: Snapshot): AnalysisView {
  const mesh = activeMesh(snapshot.meshes);
  const compiled = compile({ ...snapshot, ...(mesh ? { mesh } : {}) });
  const selector =
    (mesh?.spec?.injection?.namespaceSelector as LabelSelector | undefined) ?? DEFAULT_INJECTION_SELECTOR;
  const meshedNamespaces = new Set(
    mesh
      ? snapshot.namespaces
          .filter((ns) => selectorMatches(selector, ns.metadata?.labels))
          .map((ns) => ns.metadata?.name ?? "")
      : [],
  );
  return {
    snapshot,
    ...(mesh ? { mesh } : {}),
    compiled,
    meshedNamespaces,
    observes: (kind, namespace) => snapshot.complete || snapshot.kindsSeen.has(`${kind}/${namespace}`),
  };
}

/** A Pod that exists as a running or starting Pod, not one that has finished. */
export function isLive(pod: IPod): boolean {
  return pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

/**
 * A Pod the API server has admitted: it has a status (read from a cluster, or
 * `kubectl get -o yaml`). A Pod in a manifest has not met the injector yet.
 */
export function isAdmitted(pod: IPod): boolean {
  return pod.status?.phase !== undefined;
}
