import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IPod, IService } from "kubernetes-models/v1";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../compile/compile.js";
import { trafficPolicyIssues } from "../compile/traffic-issues.js";
import { dns1123LabelProblem, dns1123SubdomainProblem } from "../k8s/names.js";
import { apiPath, type RestClient } from "../k8s/rest.js";
import { kubernetesTime } from "../k8s/time.js";
import { truncateCodePoints } from "../k8s/truncate.js";
import type { AdmissionDecision, AdmissionRequest } from "./admission.js";

type List<T> = { items: T[] };

/**
 * Checks what CEL cannot:
 * - refuses what Envoy would refuse and only code can tell (a regex that is
 *   not RE2 syntax: trafficPolicyIssues), naming the field;
 * - warns about what depends on other objects: another TrafficPolicy already
 *   governing the target, a target that does not exist, a subset with no
 *   endpoint. It compiles the policy's namespace with the same engine as the
 *   xDS server and `skiff analyze`. These can be fixed by later changes to
 *   other objects, so they are warnings, as kubectl prints them.
 */
export async function validateTrafficPolicy(
  rest: RestClient,
  request: AdmissionRequest,
): Promise<AdmissionDecision> {
  const policy = request.object as TrafficPolicy | undefined;
  const namespace = request.namespace;
  if (!policy || !namespace) return { allowed: true };
  // The API server sends only valid names; anything else is not from it, and
  // is never put into an API path (".." there would reach other resources).
  const refused = (field: string, value: unknown, problem: string): AdmissionDecision => ({
    allowed: false,
    code: 400,
    message: `${field} ${quoted(value)} is not valid: ${problem}`,
  });
  const namespaceProblem = dns1123LabelProblem(namespace);
  if (namespaceProblem) return refused("request.namespace", namespace, namespaceProblem);
  if (typeof policy !== "object" || typeof policy.metadata !== "object" || policy.metadata === null)
    return refused("request.object", policy, "a TrafficPolicy needs metadata");
  const nameProblem = dns1123SubdomainProblem(policy.metadata.name);
  if (nameProblem) return refused("request.object.metadata.name", policy.metadata.name, nameProblem);
  const issues = trafficPolicyIssues(policy);
  if (issues.length > 0)
    return {
      allowed: false,
      code: 422,
      message: truncateCodePoints(issues.map((i) => `${i.field}: ${i.message}`).join("; "), 4096),
    };
  const incoming: TrafficPolicy = {
    ...policy,
    metadata: {
      ...policy.metadata,
      namespace,
      // A policy being created is the newest; compile orders by creation time.
      creationTimestamp: policy.metadata.creationTimestamp ?? kubernetesTime(new Date()),
    },
  };
  const [policies, services, slices, pods] = await Promise.all([
    rest.request<List<TrafficPolicy>>(
      "GET",
      apiPath`/apis/skiff.dev/v1alpha1/namespaces/${namespace}/trafficpolicies`,
    ),
    rest.request<List<IService>>("GET", apiPath`/api/v1/namespaces/${namespace}/services`),
    rest.request<List<IEndpointSlice>>(
      "GET",
      apiPath`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    ),
    rest.request<List<IPod>>("GET", apiPath`/api/v1/namespaces/${namespace}/pods`),
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

/** A value for a message: JSON, and short, since it may be anything a client sent. */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  const cut = truncateCodePoints(text, 80);
  return cut.length < text.length ? `${cut}…` : text;
}
