import type { KubernetesObject } from "@kubernetes/client-node";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import type { ClusterState } from "../compile/state.js";

/**
 * The objects `skiff analyze` looks at, sorted by kind, and how much of the
 * cluster they show.
 */
export interface Snapshot extends Omit<ClusterState, "mesh"> {
  readonly meshes: readonly Mesh[];
  /**
   * Whether, for each namespace it holds objects of, the snapshot holds every
   * object of every kind (a cluster read), or only what some files happen to
   * hold. Over files, an analyzer judges an absence (no Service of that name,
   * no Pod that a selector matches) only where the files hold objects of that
   * kind in that namespace: a folder of policies without Services says
   * nothing about Services.
   */
  readonly complete: boolean;
  /** `Kind/namespace` of every namespaced object in the snapshot. */
  readonly kindsSeen: ReadonlySet<string>;
}

/**
 * Sorts objects into a snapshot; other kinds are ignored. Namespaced objects
 * without a namespace go to "default", as kubectl puts them. An object given
 * twice (two files, two samples) counts once, as the later, which is what
 * applying both leaves.
 */
export function snapshotOf(objects: readonly KubernetesObject[], complete: boolean): Snapshot {
  const meshes: Mesh[] = [];
  const namespaces: INamespace[] = [];
  const services: IService[] = [];
  const endpointSlices: IEndpointSlice[] = [];
  const pods: IPod[] = [];
  const trafficPolicies: TrafficPolicy[] = [];
  const peerAuthentications: PeerAuthentication[] = [];
  const authorizationPolicies: AuthorizationPolicy[] = [];
  const kindsSeen = new Set<string>();
  for (const object of lastOfEachName(objects)) {
    const clusterScoped = object.kind === "Mesh" || object.kind === "Namespace";
    const obj =
      clusterScoped || object.metadata?.namespace
        ? object
        : { ...object, metadata: { ...object.metadata, namespace: "default" } };
    if (!clusterScoped) kindsSeen.add(`${obj.kind}/${obj.metadata?.namespace}`);
    switch (`${obj.apiVersion} ${obj.kind}`) {
      case "skiff.dev/v1alpha1 Mesh":
        meshes.push(obj as Mesh);
        break;
      case "skiff.dev/v1alpha1 TrafficPolicy":
        trafficPolicies.push(obj as TrafficPolicy);
        break;
      case "skiff.dev/v1alpha1 PeerAuthentication":
        peerAuthentications.push(obj as PeerAuthentication);
        break;
      case "skiff.dev/v1alpha1 AuthorizationPolicy":
        authorizationPolicies.push(obj as AuthorizationPolicy);
        break;
      case "v1 Namespace":
        namespaces.push(obj as INamespace);
        break;
      case "v1 Service":
        services.push(obj as IService);
        break;
      case "v1 Pod":
        pods.push(obj as IPod);
        break;
      case "discovery.k8s.io/v1 EndpointSlice":
        endpointSlices.push(obj as IEndpointSlice);
        break;
    }
  }
  return {
    meshes,
    namespaces,
    services,
    endpointSlices,
    pods,
    trafficPolicies,
    peerAuthentications,
    authorizationPolicies,
    complete,
    kindsSeen,
  };
}

function lastOfEachName(objects: readonly KubernetesObject[]): KubernetesObject[] {
  const byName = new Map<string, KubernetesObject>();
  for (const o of objects) {
    const key = `${o.apiVersion} ${o.kind} ${o.metadata?.namespace ?? ""} ${o.metadata?.name ?? ""}`;
    byName.delete(key);
    byName.set(key, o);
  }
  return [...byName.values()];
}
