import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";

/** The cluster objects compile reads: what the xDS server's informers hold. */
export interface ClusterState {
  readonly mesh?: Mesh;
  readonly namespaces: readonly INamespace[];
  readonly services: readonly IService[];
  readonly endpointSlices: readonly IEndpointSlice[];
  readonly pods: readonly IPod[];
  readonly trafficPolicies: readonly TrafficPolicy[];
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
}

/** The DNS suffix of Services; Kubernetes' default, which Skiff does not yet make configurable. */
export const CLUSTER_DOMAIN = "cluster.local";
