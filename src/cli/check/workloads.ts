import type { KubernetesObject } from "@kubernetes/client-node";
import { getObject, listObjects, type ReadableKind } from "../cluster/read.js";

export const DEPLOYMENT: ReadableKind = {
  group: "apps",
  version: "v1",
  kind: "Deployment",
  plural: "deployments",
};
const SERVICE: ReadableKind = { group: "", version: "v1", kind: "Service", plural: "services" };
const ENDPOINT_SLICE: ReadableKind = {
  group: "discovery.k8s.io",
  version: "v1",
  kind: "EndpointSlice",
  plural: "endpointslices",
};

/** The fields of a Deployment the checks read. */
export interface Deployment extends KubernetesObject {
  spec?: { replicas?: number };
  status?: {
    readyReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** Why a Deployment is not serving, or undefined when it is Available with a ready replica. Pure. */
export function deploymentProblem(deployment: Deployment): string | undefined {
  const available = deployment.status?.conditions?.find((c) => c.type === "Available");
  const ready = deployment.status?.readyReplicas ?? 0;
  const wanted = deployment.spec?.replicas ?? 1;
  if (available?.status === "True" && ready > 0) return undefined;
  const why = available
    ? `Available=${available.status}${available.reason ? ` (${available.reason})` : ""}${available.message ? `: ${available.message}` : ""}`
    : "the Deployment controller has not reported it Available";
  return `${ready} of ${wanted} replicas ready; ${why}`;
}

export interface ServiceEndpoints {
  /** False when the Service itself is missing. */
  readonly serviceExists: boolean;
  /** Addresses whose endpoints are ready, over all the Service's EndpointSlices. */
  readonly readyAddresses: number;
}

interface EndpointSlice extends KubernetesObject {
  endpoints?: { addresses?: string[]; conditions?: { ready?: boolean } }[];
}

/** A Service and how many ready endpoints its EndpointSlices list. */
export async function readServiceEndpoints(namespace: string, name: string): Promise<ServiceEndpoints> {
  const service = await getObject(SERVICE, name, namespace);
  if (!service) return { serviceExists: false, readyAddresses: 0 };
  const slices = (await listObjects(ENDPOINT_SLICE, namespace)) as EndpointSlice[];
  return { serviceExists: true, readyAddresses: readyAddresses(slices, name) };
}

/** Ready endpoint addresses of a Service's slices; an endpoint with no ready condition counts as ready, as the API defines. Pure. */
export function readyAddresses(slices: readonly EndpointSlice[], service: string): number {
  return slices
    .filter((slice) => slice.metadata?.labels?.["kubernetes.io/service-name"] === service)
    .flatMap((slice) => slice.endpoints ?? [])
    .filter((endpoint) => endpoint.conditions?.ready !== false)
    .reduce((sum, endpoint) => sum + (endpoint.addresses?.length ?? 0), 0);
}
