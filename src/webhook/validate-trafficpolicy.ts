import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IPod, IService } from "kubernetes-models/v1";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../compile/compile.js";
import type { RestClient } from "../k8s/rest.js";
import { kubernetesTime } from "../k8s/time.js";
import type { AdmissionDecision, AdmissionRequest } from "./admission.js";

type List<T> = { items: T[] };

/**
 * Warns about what CEL cannot see: another TrafficPolicy already governing
 * the target, a target that does not exist, a subset with no endpoint. It
 * compiles the policy's namespace with the same engine as the xDS server and
 * `skiff analyze`, and never rejects: these can be fixed by later changes to
 * other objects, so they are warnings, as kubectl prints them.
 */
export async function validateTrafficPolicy(
  rest: RestClient,
  request: AdmissionRequest,
): Promise<AdmissionDecision> {
  const policy = request.object as TrafficPolicy | undefined;
  const namespace = request.namespace;
  if (!policy || !namespace) return { allowed: true };
  const incoming: TrafficPolicy = {
    ...policy,
    metadata: {
      ...policy.metadata,
      namespace,
      // A policy being created is the newest; compile orders by creation time.
      creationTimestamp: policy.metadata.creationTimestamp ?? kubernetesTime(new Date()),
    },
  };
  const ns = `/namespaces/${namespace}`;
  const [policies, services, slices, pods] = await Promise.all([
    rest.request<List<TrafficPolicy>>("GET", `/apis/skiff.dev/v1alpha1${ns}/trafficpolicies`),
    rest.request<List<IService>>("GET", `/api/v1${ns}/services`),
    rest.request<List<IEndpointSlice>>("GET", `/apis/discovery.k8s.io/v1${ns}/endpointslices`),
    rest.request<List<IPod>>("GET", `/api/v1${ns}/pods`),
  ]);
  const { findings } = compile({
    namespaces: [],
    services: services.items,
    endpointSlices: slices.items,
    pods: pods.items,
    trafficPolicies: [...policies.items.filter((p) => p.metadata.name !== incoming.metadata.name), incoming],
    // Security does not affect TrafficPolicy findings.
    peerAuthentications: [],
    authorizationPolicies: [],
  });
  const own = findings.find((f) => f.source.name === incoming.metadata.name);
  const warnings = (own?.findings ?? [])
    .filter((f) => f.status === "False")
    .map((f) => `${f.type}=False (${f.reason}): ${f.message}`);
  return { allowed: true, warnings };
}
