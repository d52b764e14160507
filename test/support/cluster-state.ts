import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { ClusterState } from "../../src/compile/state.js";

type Object = { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } };

/**
 * Reads YAML files of Kubernetes objects into the ClusterState that compile
 * takes. Later files override earlier objects of the same kind, namespace and
 * name, so a test case can change a shared base.
 */
export function clusterStateFromFiles(...files: string[]): ClusterState {
  const objects = new Map<string, Object>();
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      const object = doc.toJS() as Object | null;
      if (!object) continue;
      objects.set(`${object.kind}/${object.metadata?.namespace ?? ""}/${object.metadata?.name}`, object);
    }
  }
  return clusterStateOf([...objects.values()]);
}

/** Objects, each with its kind, grouped into the ClusterState that compile takes (the first Mesh is its Mesh). */
export function clusterStateOf(all: readonly { readonly kind: string }[]): ClusterState {
  const ofKind = <T>(kind: string) => all.filter((o) => o.kind === kind) as T[];
  const meshes = ofKind<NonNullable<ClusterState["mesh"]>>("Mesh");
  return {
    ...(meshes[0] ? { mesh: meshes[0] } : {}),
    namespaces: ofKind("Namespace"),
    services: ofKind("Service"),
    endpointSlices: ofKind("EndpointSlice"),
    pods: ofKind("Pod"),
    trafficPolicies: ofKind("TrafficPolicy"),
    peerAuthentications: ofKind("PeerAuthentication"),
    authorizationPolicies: ofKind("AuthorizationPolicy"),
  };
}
