import { DEFAULT_INJECTION_SELECTOR } from "../api/v1alpha1/mesh.js";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import type {
  EndpointModel,
  MeshModel,
  ServiceModel,
  UnreadyEndpointModel,
  WorkloadModel,
} from "../ir/model.js";
import { subsetEndpoints } from "../ir/queries.js";
import { selectorMatches, type LabelSelector } from "../k8s/selector.js";
import { truncateCodePoints } from "../k8s/truncate.js";
import type { SecurityModel } from "../ir/security.js";
import { appliesTo } from "../policy/authorization.js";
import {
  effectiveMtls,
  peerAuthenticationApplies,
  portLevelMtlsPorts,
  servedMtlsMode,
} from "../policy/mtls.js";
import { dataPlaneOf, terminatesMeshTls } from "./data-plane.js";
import { egressScope, egressScopeOf } from "./egress-scope.js";
import { interceptionOptions } from "../inject/interception.js";
import type { MeshSpec } from "../api/v1alpha1/generated/mesh.js";
import type { IPod, IService } from "kubernetes-models/v1";
import type { PolicyFinding, PolicyFindings } from "./findings.js";
import { compileSecurity, type SecurityPolicyFindings } from "./security.js";
import { tcpPorts, tcpWarnings } from "./protocol-warnings.js";
import { proxylessUnsupported } from "./proxyless-unsupported.js";
import { byNamespacedName, endpointsByService, servicePorts, type ServiceEndpoints } from "./services.js";
import type { CompileCache } from "./cache.js";
import { CLUSTER_DOMAIN, type ClusterState } from "./state.js";
import { trafficPolicyIssues } from "./traffic-issues.js";
import { telemetryModel } from "./telemetry.js";
import { trafficModel } from "./traffic.js";

export interface CompileResult {
  readonly model: MeshModel;
  /** One entry per TrafficPolicy, sorted by namespace then name. */
  readonly findings: readonly PolicyFindings[];
  /** One entry per PeerAuthentication and AuthorizationPolicy, with the workloads each applies to. */
  readonly securityFindings: readonly GoverningPolicyFindings[];
  /** The valid PeerAuthentications and AuthorizationPolicies. */
  readonly security: SecurityModel;
}

/** A security policy's findings, and the workloads (namespace/name, sorted) it applies to. */
export interface GoverningPolicyFindings extends SecurityPolicyFindings {
  readonly workloads: readonly string[];
}

/**
 * Cluster state to the mesh model, and what was found about each policy.
 * Pure: the same state gives an equal result, whatever the input order.
 * With a `cache` (see CompileCache) the result is equal too, and shares
 * the previous run's objects wherever they are equal.
 */
export function compile(state: ClusterState, cache?: CompileCache): CompileResult {
  cache?.beginRun();
  const perObject =
    <K extends object, V>(kind: string, compute: (object: K) => V) =>
    (object: K): V =>
      cache ? cache.of(kind, object, compute) : compute(object);
  const built = <T>(kind: string, key: string, inputs: readonly unknown[], build: () => T): T =>
    cache ? cache.built(kind, key, inputs, build) : build();
  const serviceKey = perObject(
    "serviceKey",
    (s: IService) => `${s.metadata?.namespace ?? ""}/${s.metadata?.name ?? ""}`,
  );
  const traffic = perObject("trafficModel", trafficModel);
  const ports = perObject("servicePorts", servicePorts);
  const endpoints = endpointsByService(state.endpointSlices, state.pods, cache);
  const security = compileSecurity({
    ...(state.mesh ? { mesh: state.mesh } : {}),
    peerAuthentications: state.peerAuthentications,
    authorizationPolicies: state.authorizationPolicies,
    pods: state.pods,
  });
  const invalid = invalidTrafficPolicies(
    state.trafficPolicies,
    perObject("trafficPolicyIssues", trafficPolicyIssues),
  );
  const { winners, findings: conflictFindings } = resolveConflicts(
    state.trafficPolicies.filter((p) => !invalid.has(`${p.metadata.namespace}/${p.metadata.name}`)),
  );
  // The same object while the Mesh and the policies are: the workloads' models are kept on it.
  const securityModel = built(
    "security",
    "",
    [state.mesh, ...state.peerAuthentications, ...state.authorizationPolicies],
    () => security.model,
  );
  const meshWorkloads = workloads(state, securityModel, endpoints, built);
  // Only workloads (Pods that can terminate the mesh's TLS) are offered it (auto mTLS).
  const tlsWorkloads = new Map(meshWorkloads.map((w) => [w.key, w]));

  const services: ServiceModel[] = state.services
    .map((service) => {
      const namespace = service.metadata?.namespace ?? "";
      const name = service.metadata?.name ?? "";
      const clusterIP = service.spec?.clusterIP;
      const key = serviceKey(service);
      const policy = winners.get(key);
      const listed = endpoints.get(key);
      const ready = listed?.ready ?? [];
      // Everything the model is built from: auto mTLS reads the workload of each ready endpoint.
      const inputs = [
        service,
        policy,
        listed,
        ...ready.map((e) => e.workload && tlsWorkloads.get(e.workload)),
      ];
      return built("service", key, inputs, (): ServiceModel => {
        const unready = (listed?.unready ?? []).flatMap((e): UnreadyEndpointModel[] =>
          e.workload === undefined ? [] : [{ address: e.address, workload: e.workload, ports: e.ports }],
        );
        return {
          namespace,
          name,
          hostname: `${name}.${namespace}.svc.${CLUSTER_DOMAIN}`,
          ...(clusterIP && clusterIP !== "None" ? { clusterIP } : {}),
          ports: ports(service),
          endpoints: ready.map((e) => withMtls(e, tlsWorkloads)),
          ...(unready.length > 0 ? { unreadyEndpoints: unready } : {}),
          ...(policy ? { traffic: traffic(policy) } : {}),
        };
      });
    })
    .filter((s) => s.ports.length > 0)
    .sort(byNamespacedName);

  // By namespace/name and by governing policy: a lookup per policy, not a scan of every Service.
  const serviceByKey = new Map(services.map((s) => [`${s.namespace}/${s.name}`, s]));
  const governedBy = new Map(
    services.flatMap((s) =>
      s.traffic ? [[`${s.traffic.source.namespace}/${s.traffic.source.name}`, s]] : [],
    ),
  );
  const findings = state.trafficPolicies
    .map((policy): PolicyFindings => {
      const source = {
        namespace: policy.metadata.namespace ?? "",
        name: policy.metadata.name ?? "",
        generation: policy.metadata.generation ?? 0,
      };
      const key = `${source.namespace}/${source.name}`;
      const accepted = invalid.get(key) ??
        conflictFindings.get(key) ?? {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "The policy is valid and governs its target.",
        };
      const governed = governedBy.get(key);
      return {
        kind: "TrafficPolicy",
        source,
        ...(governed ? { service: governed.hostname } : {}),
        findings: [accepted, resolvedRefs(policy, serviceByKey, traffic)],
        unsupported: proxylessUnsupported(traffic(policy)),
      };
    })
    .sort((a, b) => byNamespacedName(a.source, b.source));

  cache?.endRun();
  const tcp = tcpPorts(services);
  const telemetry = telemetryModel(state.mesh);
  return {
    model: {
      clusterDomain: CLUSTER_DOMAIN,
      trustDomain: security.model.trustDomain,
      services,
      workloads: meshWorkloads,
      ...(telemetry ? { telemetry } : {}),
    },
    securityFindings: security.findings.map((found) => {
      const workloads = governedWorkloads(found, security.model, meshWorkloads);
      const policy = security.model.authorizationPolicies.find(
        (p) => found.kind === "AuthorizationPolicy" && sameSource(p.source, found.source),
      );
      const warnings = policy ? [...found.warnings, ...tcpWarnings(policy, workloads, tcp)] : found.warnings;
      return { ...found, warnings, workloads };
    }),
    security: security.model,
    findings,
  };
}

/**
 * The workloads a security policy applies to: for an AuthorizationPolicy,
 * those that enforce it; for a PeerAuthentication, those in its scope.
 * Invalid policies are in no workload's model and apply to none.
 */
function governedWorkloads(
  found: SecurityPolicyFindings,
  security: SecurityModel,
  workloads: readonly WorkloadModel[],
): string[] {
  const same = (source: { namespace: string; name: string }) => sameSource(source, found.source);
  if (found.kind === "AuthorizationPolicy")
    return workloads.filter((w) => w.authorization.some((p) => same(p.source))).map((w) => w.key);
  const policy = security.peerAuthentications.find((p) => same(p.source));
  if (!policy) return [];
  return workloads
    .filter((w) =>
      peerAuthenticationApplies(policy, { namespace: w.key.split("/")[0] ?? "", labels: w.labels }),
    )
    .map((w) => w.key);
}

function sameSource(a: { namespace: string; name: string }, b: { namespace: string; name: string }): boolean {
  return a.namespace === b.namespace && a.name === b.name;
}

/**
 * TrafficPolicies with what Envoy would refuse (trafficPolicyIssues) are
 * Accepted=False/Invalid, keyed by namespace/name, and govern nothing: the
 * Service is built as if they were not there.
 */
function invalidTrafficPolicies(
  policies: readonly TrafficPolicy[],
  issuesOf: typeof trafficPolicyIssues,
): Map<string, PolicyFinding> {
  const invalid = new Map<string, PolicyFinding>();
  for (const policy of policies) {
    const issues = issuesOf(policy);
    if (issues.length === 0) continue;
    invalid.set(`${policy.metadata.namespace}/${policy.metadata.name}`, {
      type: "Accepted",
      status: "False",
      reason: "Invalid",
      // Within a condition message, however many issues there are.
      message: truncateCodePoints(issues.map((i) => `${i.field}: ${i.message}`).join("; "), 4096),
    });
  }
  return invalid;
}

/**
 * At most one TrafficPolicy governs a Service: the oldest, ties broken by
 * name. The others are Accepted=False/Conflicted, naming the winner.
 */
function resolveConflicts(policies: readonly TrafficPolicy[]) {
  const byTarget = new Map<string, TrafficPolicy[]>();
  for (const policy of policies) {
    const key = `${policy.metadata.namespace}/${policy.spec.targetRef.name}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), policy]);
  }
  const winners = new Map<string, TrafficPolicy>();
  const findings = new Map<string, PolicyFinding>();
  for (const [target, contenders] of byTarget) {
    const [winner, ...losers] = [...contenders].sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? "") ||
        (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""),
    );
    winners.set(target, winner!);
    for (const loser of losers) {
      findings.set(`${loser.metadata.namespace}/${loser.metadata.name}`, {
        type: "Accepted",
        status: "False",
        reason: "Conflicted",
        message: `TrafficPolicy ${winner!.metadata.name} is older and already targets Service ${loser.spec.targetRef.name}.`,
      });
    }
  }
  return { winners, findings };
}

function resolvedRefs(
  policy: TrafficPolicy,
  services: ReadonlyMap<string, ServiceModel>,
  traffic: typeof trafficModel,
): PolicyFinding {
  const namespace = policy.metadata.namespace ?? "";
  const target = services.get(`${namespace}/${policy.spec.targetRef.name}`);
  if (!target)
    return {
      type: "ResolvedRefs",
      status: "False",
      reason: "BackendNotFound",
      message: `Service ${namespace}/${policy.spec.targetRef.name} does not exist.`,
    };
  // The policy's own subsets, even when another policy governs the Service.
  const empty = traffic(policy).subsets.filter((subset) => subsetEndpoints(target, subset).length === 0);
  if (empty.length > 0)
    return {
      type: "ResolvedRefs",
      status: "False",
      reason: "SubsetHasNoEndpoints",
      message: `No ready endpoint of Service ${target.name} matches subset ${empty.map((s) => s.name).join(", ")}.`,
    };
  return {
    type: "ResolvedRefs",
    status: "True",
    reason: "ResolvedRefs",
    message: "The target and its subsets resolve.",
  };
}

/**
 * An endpoint with what it accepts on each port, for clients' auto mTLS: the
 * mode of its workload at the endpoint's target port. An endpoint whose Pod
 * is not a meshed workload, or runs no sidecar (opted out, or older than the
 * namespace's label), has nothing to terminate TLS, so it gets none
 * (plaintext).
 */
function withMtls(endpoint: EndpointModel, workloads: ReadonlyMap<string, WorkloadModel>): EndpointModel {
  const workload = endpoint.workload === undefined ? undefined : workloads.get(endpoint.workload);
  if (!workload) return endpoint;
  const mtls = Object.fromEntries(
    Object.entries(endpoint.ports).map(([name, port]) => [
      name,
      workload.mtls.portModes[port] ?? workload.mtls.mode,
    ]),
  );
  return { ...endpoint, mtls };
}

/**
 * The inbound ports iptables leaves to the application (the Mesh's and the
 * Pod's excludeInboundPorts), as the injector computed them. A malformed
 * annotation (the injector refuses such a Pod; it can only be added later)
 * excludes nothing here, as iptables kept what it was given.
 */
function uncapturedInboundPorts(spec: MeshSpec | undefined, pod: IPod): ReadonlySet<number> {
  try {
    return new Set(interceptionOptions(spec, pod.metadata?.annotations).excludeInboundPorts);
  } catch {
    return new Set();
  }
}

/**
 * Pods in meshed namespaces that have an IP and a data plane (a sidecar or a
 * proxyless gRPC server, see terminatesMeshTls): the workloads that need an
 * inbound side. Each gets the mTLS mode of
 * every port a Service targets on it, whether the Pod is ready or not, and of
 * every port its PeerAuthentication sets at port level, with
 * PeerAuthentication's precedence (`effectiveMtls`), as its data plane can
 * serve it (`servedMtlsMode`).
 */
function workloads(
  state: ClusterState,
  security: SecurityModel,
  endpoints: ReadonlyMap<string, ServiceEndpoints>,
  built: <T>(kind: string, key: string, inputs: readonly unknown[], build: () => T) => T,
): WorkloadModel[] {
  if (!state.mesh) return [];
  const selector =
    (state.mesh.spec?.injection?.namespaceSelector as LabelSelector | undefined) ??
    DEFAULT_INJECTION_SELECTOR;
  const meshed = new Set(
    state.namespaces
      .filter((ns) => selectorMatches(selector, ns.metadata?.labels))
      .map((ns) => ns.metadata?.name),
  );
  const targetPorts = new Map<string, Set<number>>();
  for (const { ready, unready } of endpoints.values())
    for (const endpoint of [...ready, ...unready]) {
      if (endpoint.workload === undefined) continue;
      const ports = targetPorts.get(endpoint.workload) ?? new Set<number>();
      for (const port of Object.values(endpoint.ports)) ports.add(port);
      targetPorts.set(endpoint.workload, ports);
    }
  return state.pods
    .filter(
      (p) =>
        meshed.has(p.metadata?.namespace) &&
        // A Pod with no sidecar (opted out, or older than the label) enforces nothing: no
        // policy is in force there, nor waits for it to be programmed, nor sends it TLS.
        terminatesMeshTls(p) &&
        p.status?.podIP &&
        p.status.phase !== "Succeeded" &&
        p.status.phase !== "Failed",
    )
    .map((p) => {
      const namespace = p.metadata?.namespace ?? "";
      const key = `${namespace}/${p.metadata?.name}`;
      // Everything the model is built from (the security model stays the same object while its policies do).
      const inputs = [p, state.mesh, security, [...(targetPorts.get(key) ?? [])].join(",")];
      return built("workload", key, inputs, () => workloadModel(state, security, p, key, targetPorts));
    })
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** One Pod's workload model (see workloads). */
function workloadModel(
  state: ClusterState,
  security: SecurityModel,
  p: IPod,
  key: string,
  targetPorts: ReadonlyMap<string, ReadonlySet<number>>,
): WorkloadModel {
  const namespace = p.metadata?.namespace ?? "";
  const labels = { ...p.metadata?.labels };
  const dataPlane = dataPlaneOf(p);
  const uncaptured = uncapturedInboundPorts(state.mesh?.spec, p);
  const mode = (port: number | undefined) =>
    // A port the sidecar never sees (excluded from capture) is served by the application itself: plaintext.
    port !== undefined && uncaptured.has(port)
      ? "DISABLE"
      : servedMtlsMode(
          effectiveMtls(
            security.peerAuthentications,
            security.rootNamespace,
            { namespace, labels },
            port,
            security.defaultMtlsMode,
          ),
          dataPlane,
        );
  const ports = [
    ...new Set([
      ...(targetPorts.get(key) ?? []),
      ...portLevelMtlsPorts(security.peerAuthentications, security.rootNamespace, { namespace, labels }),
    ]),
  ].sort((a, b) => a - b);
  return {
    key,
    address: p.status!.podIP!,
    labels,
    serviceAccount: p.spec?.serviceAccountName ?? "default",
    authorization: security.authorizationPolicies.filter((policy) =>
      appliesTo(policy, security.rootNamespace, { namespace, labels }),
    ),
    mtls: {
      mode: mode(undefined),
      portModes: Object.fromEntries(ports.map((port) => [port, mode(port)])),
    },
    dataPlane,
    // Proxyless gRPC clients ask for the names they use: only sidecars are scoped.
    ...egressScopeOf(dataPlane === "sidecar" ? egressScope(state.mesh?.spec, p) : undefined),
  };
}
