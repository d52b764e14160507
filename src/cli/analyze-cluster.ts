import type { KubernetesObject } from "@kubernetes/client-node";
import { meshIdentity } from "../mesh/defaults.js";
import { activeMesh } from "../mesh/singleton.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import { ClusterAccessError, useKubeconfig, type KubeconfigChoice } from "./cluster/kubeconfig.js";
import { getObject, listObjects, type ReadableKind } from "./cluster/read.js";

const kind = (group: string, version: string, kind: string, plural: string): ReadableKind => ({
  group,
  version,
  kind,
  plural,
});
const MESH = kind("skiff.dev", "v1alpha1", "Mesh", "meshes");
const NAMESPACE = kind("", "v1", "Namespace", "namespaces");
/** The namespaced kinds the analyzers read. */
const NAMESPACED = [
  kind("", "v1", "Service", "services"),
  kind("", "v1", "Pod", "pods"),
  kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
  kind("skiff.dev", "v1alpha1", "TrafficPolicy", "trafficpolicies"),
  kind("skiff.dev", "v1alpha1", "PeerAuthentication", "peerauthentications"),
  kind("skiff.dev", "v1alpha1", "AuthorizationPolicy", "authorizationpolicies"),
];
const SECURITY = NAMESPACED.filter((k) => k.kind.endsWith("Authentication") || k.kind.endsWith("Policy"));

export interface ClusterRead {
  readonly objects: KubernetesObject[];
  /** The namespace analyzed; undefined for all of them. */
  readonly namespace?: string;
}

/**
 * Reads what the analyzers need from the user's cluster, through
 * kubernetes-fluent-client (src/cli/cluster): the Meshes, and the Namespaces,
 * Services, Pods, EndpointSlices and Skiff policies of one namespace (the
 * context's, as kubectl, unless `namespace` names one) or of all. With one
 * namespace, the root namespace's PeerAuthentications and
 * AuthorizationPolicies are read too, since mesh-wide policies decide its
 * workloads' modes. Throws ClusterAccessError in one line.
 */
export async function readCluster(
  choice: KubeconfigChoice,
  scope: { allNamespaces: boolean; namespace?: string },
): Promise<ClusterRead> {
  const config = useKubeconfig(choice);
  const meshes = await listObjects(MESH);
  if (scope.allNamespaces) {
    const lists = await Promise.all([listObjects(NAMESPACE), ...NAMESPACED.map((k) => listObjects(k))]);
    return { objects: [...meshes, ...lists.flat()] };
  }
  // The context's namespace, as kubectl takes it, is the one fluent-client cannot tell.
  const namespace =
    scope.namespace ?? config.getContextObject(config.getCurrentContext())?.namespace ?? "default";
  const mesh = activeMesh(meshes);
  const root = meshIdentity(mesh as Mesh | undefined).rootNamespace;
  const [ns, lists, rootPolicies] = await Promise.all([
    getObject(NAMESPACE, namespace),
    Promise.all(NAMESPACED.map((k) => listObjects(k, namespace))),
    root === namespace ? [] : Promise.all(SECURITY.map((k) => listObjects(k, root))),
  ]);
  if (!ns) throw new ClusterAccessError(`namespace ${namespace} does not exist`);
  return { objects: [...meshes, ns, ...lists.flat(), ...rootPolicies.flat()], namespace };
}
