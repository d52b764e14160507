/**
 * Puts the xDS benchmark's synthetic cluster (test/bench/xds/fixture.ts) into
 * a real API server: its Namespace, Services and EndpointSlices.
 *
 * - No Pods: compile builds endpoints from EndpointSlices alone, and uses Pods
 *   only for subset labels and ServiceAccounts (mTLS), which the benchmark has
 *   neither of (there is no Mesh); so the endpoints name no Pod (seedState).
 * - The local API server allocates ClusterIPs from 10.0.0.0/24, too small
 *   for 1000 Services, so a ServiceCIDR adds 10.96.0.0/16 (the API server
 *   uses one without a Ready condition when no controller-manager runs). The
 *   ClusterIPs are the API server's choice, not the fixture's.
 * - The namespace skiff-system holds the xDS server's status Lease.
 */
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { ClusterState } from "../../../src/compile/state.js";
import { RestClient } from "../../../src/k8s/rest.js";
import { clusterState, NAMESPACE } from "../xds/fixture.js";
import { inParallel } from "../../../src/xds/status/in-parallel.js";

export { NAMESPACE };
export const STATUS_NAMESPACE = "skiff-system";

/**
 * The state the API server will hold: the fixture without Pods, with
 * ClusterIPs left to the API server, and endpoints that name no Pod (as a
 * selector-less Service's do). Compile holds back an endpoint whose Pod it
 * has not seen, as Istio does, so endpoints naming the absent Pods would
 * give every Service an empty EDS and no change would reach a proxy.
 */
export function seedState(services: number, endpoints: number): ClusterState {
  const state = clusterState({ services, endpoints });
  return {
    ...state,
    pods: [],
    services: state.services.map((s) => ({ ...s, spec: { ...s.spec, clusterIP: undefined } })),
    endpointSlices: state.endpointSlices.map((slice) => ({
      ...slice,
      endpoints: slice.endpoints.map(({ targetRef: _pod, ...endpoint }) => endpoint),
    })),
  };
}

/** Creates the state's objects, `concurrency` requests in flight. */
export async function seedCluster(kubeConfig: KubeConfig, state: ClusterState, concurrency: number) {
  const rest = new RestClient(kubeConfig);
  const create = async (object: KubernetesObject) => {
    const path = await rest.path(object.apiVersion!, object.kind!, object.metadata?.namespace ?? null);
    await rest.request("POST", path, { body: object });
  };
  await create({
    apiVersion: "networking.k8s.io/v1",
    kind: "ServiceCIDR",
    metadata: { name: "bench-services" },
    spec: { cidrs: ["10.96.0.0/16"] },
  } as KubernetesObject);
  for (const name of [STATUS_NAMESPACE, ...state.namespaces.map((n) => n.metadata!.name!)])
    await create({ apiVersion: "v1", kind: "Namespace", metadata: { name } });
  await inParallel(state.services, concurrency, (s) => create(s as KubernetesObject));
  await inParallel(state.endpointSlices, concurrency, (s) => create(s as KubernetesObject));
}
