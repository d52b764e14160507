import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IPod, IService } from "kubernetes-models/v1";
import type { EndpointModel, ServicePortModel } from "../ir/model.js";
import type { CompileCache } from "./cache.js";
import { portProtocol } from "./protocol.js";

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

export const byNamespacedName = (
  a: { namespace: string; name: string },
  b: { namespace: string; name: string },
) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

/**
 * A Service's TCP ports. UDP and SCTP ports are left out, as Istio leaves UDP
 * out: the sidecar captures TCP only, and one port number may be served over
 * both TCP and UDP (DNS, HTTP/3), which would give two listeners, clusters
 * and route configurations of one name, the later replacing the earlier.
 */
export function servicePorts(service: IService): ServicePortModel[] {
  return (service.spec?.ports ?? [])
    .filter((p) => (p.protocol ?? "TCP") === "TCP")
    .map((p) => ({ name: p.name ?? "", port: p.port, protocol: portProtocol(p.name, p.appProtocol) }))
    .sort((a, b) => a.port - b.port);
}

/** A Service's endpoints, split by readiness. */
export interface ServiceEndpoints {
  /** What clients may send to (EDS), sorted by address, then Pod. */
  readonly ready: EndpointModel[];
  /**
   * Endpoints listed with `conditions.ready: false` (starting, failing
   * readiness, terminating), sorted likewise. Clients never get them, but
   * their Pods' own sidecars still guard their ports.
   */
  readonly unready: EndpointModel[];
}

/**
 * The endpoints of each Service, from its EndpointSlices, labelled with
 * their Pods' labels so that subsets can select them, and with their Pods'
 * ServiceAccounts, the identities clients verify under mTLS.
 *
 * - Only the first address of an endpoint is used: Kubernetes says the
 *   addresses of one endpoint are fungible, and kube-proxy does the same.
 * - An endpoint whose `ready` condition is unset counts as ready, as the
 *   EndpointSlice API specifies; FQDN slices are skipped.
 * - An endpoint listed by several slices (one per port set) gets the union
 *   of their ports. Endpoints are told apart by address and Pod, so Pods
 *   that share an address (host networking) stay separate.
 * - With a `cache`, a Service's endpoints are those of the previous run
 *   when its slices and the Pods they name are the same objects.
 */
export function endpointsByService(
  slices: readonly IEndpointSlice[],
  pods: readonly IPod[],
  cache?: CompileCache,
): Map<string, ServiceEndpoints> {
  const podKey = (p: IPod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
  const podsByKey = new Map(pods.map((p) => [cache ? cache.of("podKey", p, podKey) : podKey(p), p]));
  const slicesByService = new Map<string, IEndpointSlice[]>();
  for (const slice of slices) {
    const key = cache ? cache.of("sliceService", slice, serviceOfSlice) : serviceOfSlice(slice);
    if (key === undefined) continue;
    const group = slicesByService.get(key);
    if (group) group.push(slice);
    else slicesByService.set(key, [slice]);
  }
  const result = new Map<string, ServiceEndpoints>();
  for (const [key, group] of slicesByService) {
    const build = () => serviceEndpoints(group, podsByKey);
    if (!cache) {
      result.set(key, build());
      continue;
    }
    // What the endpoints are built from: the slices, and the Pod each name (or its absence).
    const inputs: unknown[] = [...group];
    for (const slice of group)
      for (const pod of cache.of("named", slice, namedPods)) inputs.push(podsByKey.get(pod));
    result.set(key, cache.built("endpoints", key, inputs, build));
  }
  return result;
}

/** The Service (namespace/name) whose endpoints a slice lists; undefined for one compile ignores. */
function serviceOfSlice(slice: IEndpointSlice): string | undefined {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!service || slice.addressType === "FQDN") return undefined;
  return `${slice.metadata?.namespace}/${service}`;
}

/** The Pods (namespace/name) a slice's endpoints name. */
function namedPods(slice: IEndpointSlice): string[] {
  return (slice.endpoints ?? []).flatMap((e) => workloadOf(slice, e.targetRef) ?? []);
}

/** The Pod (namespace/name) an endpoint names, if it names one. */
function workloadOf(
  slice: IEndpointSlice,
  target: { kind?: string; namespace?: string; name?: string } | undefined,
): string | undefined {
  return target?.kind === "Pod"
    ? `${target.namespace ?? slice.metadata?.namespace}/${target.name}`
    : undefined;
}

/** One Service's endpoints, from its slices. */
function serviceEndpoints(
  slices: readonly IEndpointSlice[],
  podsByKey: ReadonlyMap<string, IPod>,
): ServiceEndpoints {
  const lists = { ready: new Map<string, EndpointModel>(), unready: new Map<string, EndpointModel>() };
  for (const slice of slices) {
    const ports: Record<string, number> = {};
    for (const p of slice.ports ?? []) if (p.port !== undefined) ports[p.name ?? ""] = p.port;
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses[0];
      if (address === undefined) continue;
      const endpoints = endpoint.conditions?.ready === false ? lists.unready : lists.ready;
      const workload = workloadOf(slice, endpoint.targetRef);
      const pod = workload === undefined ? undefined : podsByKey.get(workload);
      // An endpoint of a Pod not seen yet waits for it, as Istio's endpoint
      // controller does: without the Pod, its labels (subsets), identity and
      // sidecar (auto mTLS) are unknown, and clients would send it plaintext.
      // The Pod's arrival recompiles, and brings the endpoint in.
      if (workload !== undefined && !pod) continue;
      const key = `${address}/${workload ?? ""}`;
      const previous = endpoints.get(key);
      endpoints.set(key, {
        address,
        ports: { ...previous?.ports, ...ports },
        labels: pod?.metadata?.labels ?? {},
        ...(workload ? { workload } : {}),
        // As the ServiceAccount admission plugin (and the injector) would fill it in.
        ...(pod ? { serviceAccount: pod.spec?.serviceAccountName ?? "default" } : {}),
      });
    }
  }
  const sorted = (endpoints: Map<string, EndpointModel>) =>
    [...endpoints.values()].sort(
      (a, b) => a.address.localeCompare(b.address) || (a.workload ?? "").localeCompare(b.workload ?? ""),
    );
  return { ready: sorted(lists.ready), unready: sorted(lists.unready) };
}
