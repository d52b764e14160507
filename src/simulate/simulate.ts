import type { KubernetesObject } from "@kubernetes/client-node";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { TrafficPolicy } from "../api/v1alpha1/generated/trafficpolicy.js";
import { validateObject, type ValidationIssue } from "../api/v1alpha1/validate.js";
import { compile } from "../compile/compile.js";
import { portProtocol } from "../compile/protocol.js";
import { dataPlaneOf } from "../compile/data-plane.js";
import { definedLabels } from "../compile/defined.js";
import { securityIssues } from "../compile/security.js";
import { trafficPolicyIssues } from "../compile/traffic-issues.js";
import type { EffectiveMtlsMode, Labels } from "../ir/security.js";
import { authorize, type AuthorizationDecision, type AuthorizationRequest } from "../policy/authorization.js";
import { parseIp } from "../net/ip.js";
import { labelsInclude } from "../policy/match.js";
import { mtlsDecision, servedMtlsMode, type MtlsDecision } from "../policy/mtls.js";
import {
  primaryDestination,
  redirectLocation,
  routeHttp,
  routeTcp,
  type RouteResult,
} from "../policy/route.js";

/**
 * `skiff simulate`, without the command line: routing, mTLS and authorization
 * for one request, evaluated on objects read from files. Pure.
 */

/** Objects that make simulation impossible, or a target they do not have; the CLI exits 1 with its message. */
export class BadInput extends Error {}

/** A parsed object and the file it came from. */
export interface SourcedObject {
  readonly file: string;
  readonly object: KubernetesObject;
}

/** The request: the CLI checks each part is well formed (see src/cli/simulate-request.ts). */
export interface SimulateOptions {
  /** A mesh client's namespace and ServiceAccount. */
  readonly from?: { readonly namespace: string; readonly serviceAccount: string };
  /** The client's address. */
  readonly fromIp?: string;
  readonly plaintext: boolean;
  readonly to: SimulateTarget;
  readonly method: string;
  readonly path: string;
  /** Lower-case names; a repeated header's values joined with ",". */
  readonly headers: Readonly<Record<string, string>>;
}

/** The Service port a request is sent to. */
export interface SimulateTarget {
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
  /** The address as the client wrote it (`reviews.bookinfo:9080`): the default Host. */
  readonly authority: string;
}

export interface SimulateDestination {
  /** The Service's hostname. */
  readonly service: string;
  readonly subset: string | null;
}

interface RouteRule {
  /** `namespace/name` of the TrafficPolicy; null when none governs the Service. */
  readonly policy: string | null;
  /** The HTTP rule's name (or index); null for the default route. */
  readonly rule: string | null;
}

export interface ForwardedResult {
  readonly route: RouteRule & {
    /** The destination with the highest weight. */
    readonly destination: SimulateDestination;
    readonly destinations: readonly (SimulateDestination & { readonly weight: number })[];
  };
  readonly mtls: { readonly serverMode: EffectiveMtlsMode; readonly clientUsesMtls: boolean };
  readonly authorization: Pick<AuthorizationDecision, "decision" | "policy" | "rule" | "reason">;
}

/**
 * A request that a redirect rule takes: the client's proxy answers it, so it
 * has no destination, and mTLS and authorization (null) never apply.
 */
export interface RedirectedResult {
  readonly route: RouteRule & {
    readonly redirect: { readonly code: number; readonly location: string };
    readonly destination: null;
    readonly destinations: readonly [];
  };
  readonly mtls: null;
  readonly authorization: null;
}

/** A simulation's result, with what the text output adds to a forwarded one. */
export type SimulateOutcome =
  | { readonly result: ForwardedResult; readonly details: SimulateDetails }
  | { readonly result: RedirectedResult; readonly details: null };

/** What the text output adds to the result. */
export interface SimulateDetails {
  readonly workload: string;
  readonly labels: Labels;
  readonly port: number;
  readonly principal?: string;
  readonly mtls: MtlsDecision;
  readonly audited: readonly string[];
}

/**
 * The simulation itself, on parsed objects. Pure.
 *
 * - Every skiff.dev object is validated first: against the schema, then the
 *   checks the API server makes with CEL. Bad input throws {@link BadInput}
 *   naming the field.
 * - The destination workload is the first Pod (in file order) that the
 *   Service selects and, when the route picks a subset, that the subset
 *   selects; without Pods, a workload whose labels are the Service's selector
 *   and the subset's labels.
 * - The server's mode is the effective PeerAuthentication mode at the
 *   container port (the Service's targetPort, a named one looked up in the
 *   Pod). The client uses mTLS unless --plaintext, the server's mode is
 *   DISABLE, or it has no identity (--from-ip alone).
 */
export function simulate(objects: readonly SourcedObject[], options: SimulateOptions): SimulateOutcome {
  const state = collect(objects);
  const mesh = state.meshes.find((m) => m.metadata.name === "default") ?? state.meshes[0];
  const { model, security } = compile({
    ...(mesh ? { mesh } : {}),
    namespaces: state.namespaces,
    services: state.services,
    endpointSlices: state.endpointSlices,
    pods: state.pods,
    trafficPolicies: state.trafficPolicies,
    peerAuthentications: state.peerAuthentications,
    authorizationPolicies: state.authorizationPolicies,
  });

  const { service: serviceName, namespace, port: servicePortNumber, authority } = options.to;
  const service = state.services.find(
    (s) => s.metadata?.name === serviceName && s.metadata?.namespace === namespace,
  );
  if (!service)
    throw new BadInput(`--to ${authority}: Service ${namespace}/${serviceName} is not in the files`);
  const servicePort = service.spec?.ports?.find((p) => p.port === servicePortNumber);
  if (!servicePort)
    throw new BadInput(
      `--to ${authority}: Service ${namespace}/${serviceName} has no port ${servicePortNumber}`,
    );
  const serviceModel = model.services.find((s) => s.namespace === namespace && s.name === serviceName);
  const hostname = serviceModel?.hostname ?? `${serviceName}.${namespace}.svc.cluster.local`;
  const traffic = serviceModel?.traffic;

  const headers = options.headers;
  const protocol = portProtocol(servicePort.name, servicePort.appProtocol) === "TCP" ? "TCP" : "HTTP";
  const host = headers.host ?? authority;
  const route: RouteResult =
    protocol === "TCP"
      ? routeTcp(traffic)
      : routeHttp(traffic, { method: options.method, path: options.path, headers, host });
  if (route.kind === "Redirect") {
    // The client's application speaks plaintext HTTP to its sidecar, which answers.
    const location = redirectLocation(route.redirect, { scheme: "http", host, path: options.path });
    return {
      result: {
        route: {
          policy: traffic ? `${traffic.source.namespace}/${traffic.source.name}` : null,
          rule: route.name,
          redirect: { code: route.redirect.code, location },
          destination: null,
          destinations: [],
        },
        mtls: null,
        authorization: null,
      },
      details: null,
    };
  }
  const primary = primaryDestination(route.destinations);

  // The destination workload.
  const selector = definedLabels(service.spec?.selector);
  const subsetLabels = traffic?.subsets.find((s) => s.name === primary.subset)?.labels ?? {};
  const selected = state.pods.filter(
    (p) =>
      p.metadata?.namespace === namespace &&
      Object.keys(selector).length > 0 &&
      labelsInclude(definedLabels(p.metadata?.labels), selector) &&
      p.status?.phase !== "Succeeded" &&
      p.status?.phase !== "Failed",
  );
  const pod =
    selected.find((p) => labelsInclude(definedLabels(p.metadata?.labels), subsetLabels)) ?? selected[0];
  const labels = pod ? definedLabels(pod.metadata?.labels) : { ...selector, ...subsetLabels };
  const workload = { namespace, labels };
  const port = containerPort(servicePort, pod);

  // mTLS.
  const decided = mtlsDecision(
    security.peerAuthentications,
    security.rootNamespace,
    workload,
    port,
    security.defaultMtlsMode,
  );
  const mtls = { ...decided, mode: servedMtlsMode(decided.mode, dataPlaneOf(pod)) };
  const client = options.from;
  const clientUsesMtls = client !== undefined && !options.plaintext && mtls.mode !== "DISABLE";
  const principal =
    client && clientUsesMtls
      ? `${security.trustDomain}/ns/${client.namespace}/sa/${client.serviceAccount}`
      : undefined;
  const sourceIp =
    options.fromIp ??
    state.pods.find(
      (p) =>
        client &&
        p.metadata?.namespace === client.namespace &&
        (p.spec?.serviceAccountName ?? "default") === client.serviceAccount &&
        p.status?.podIP,
    )?.status?.podIP;

  // Authorization.
  let decision: AuthorizationDecision;
  if (mtls.mode === "STRICT" && !clientUsesMtls) {
    decision = {
      decision: "DENY",
      policy: null,
      rule: null,
      reason: "plaintext connection to a STRICT port",
      audited: [],
    };
  } else {
    const request: AuthorizationRequest = {
      protocol,
      port,
      ...(principal ? { principal } : {}),
      ...(sourceIp ? { sourceIp } : {}),
      ...(protocol === "HTTP" && forwardedFor(headers) ? { remoteIp: forwardedFor(headers) } : {}),
      ...(pod?.status?.podIP ? { destinationIp: pod.status.podIP } : {}),
      ...(clientUsesMtls
        ? { sni: `outbound_.${servicePortNumber}_.${primary.subset ?? ""}_.${hostname}` }
        : {}),
      ...(protocol === "HTTP" ? { host, method: options.method, path: options.path, headers } : {}),
    };
    decision = authorize(security.authorizationPolicies, security.rootNamespace, workload, request);
  }

  const destination = (d: { subset?: string }) => ({ service: hostname, subset: d.subset ?? null });
  return {
    result: {
      route: {
        policy: traffic ? `${traffic.source.namespace}/${traffic.source.name}` : null,
        rule: route.kind === "Rule" ? route.name : null,
        destination: destination(primary),
        destinations: route.destinations.map((d) => ({ ...destination(d), weight: d.weight })),
      },
      mtls: { serverMode: mtls.mode, clientUsesMtls },
      authorization: {
        decision: decision.decision,
        policy: decision.policy,
        rule: decision.rule,
        reason: decision.reason,
      },
    },
    details: {
      workload: pod ? `${namespace}/${pod.metadata?.name}` : `${namespace}/(no Pod in the files)`,
      labels,
      port,
      ...(principal ? { principal } : {}),
      mtls,
      audited: decision.audited,
    },
  };
}

interface CollectedState {
  meshes: Mesh[];
  namespaces: INamespace[];
  services: IService[];
  endpointSlices: IEndpointSlice[];
  pods: IPod[];
  trafficPolicies: TrafficPolicy[];
  peerAuthentications: PeerAuthentication[];
  authorizationPolicies: AuthorizationPolicy[];
}

/** Sorts the objects by kind, validating every skiff.dev object; other kinds are kept or ignored. */
function collect(objects: readonly SourcedObject[]): CollectedState {
  const state: CollectedState = {
    meshes: [],
    namespaces: [],
    services: [],
    endpointSlices: [],
    pods: [],
    trafficPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
  };
  const problems: string[] = [];
  for (const { file, object } of objects) {
    // kubectl puts namespaced objects without a namespace in "default".
    const obj =
      object.kind === "Mesh" || object.kind === "Namespace" || object.metadata?.namespace
        ? object
        : { ...object, metadata: { ...object.metadata, namespace: "default" } };
    if (obj.apiVersion?.startsWith("skiff.dev/")) {
      const issues = validateObject(obj);
      const all: ValidationIssue[] =
        issues.length > 0
          ? issues
          : [
              ...securityIssues(obj),
              ...(obj.kind === "TrafficPolicy" ? trafficPolicyIssues(obj as TrafficPolicy) : []),
              ...ruleActionIssues(obj),
            ];
      const name = `${obj.kind}/${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name}`;
      for (const issue of all) problems.push(`${file}: ${name}: ${issue.field}: ${issue.message}`);
      if (all.length > 0) continue;
    }
    const key = `${obj.apiVersion} ${obj.kind}`;
    switch (key) {
      case "skiff.dev/v1alpha1 Mesh":
        state.meshes.push(obj as Mesh);
        break;
      case "skiff.dev/v1alpha1 TrafficPolicy":
        state.trafficPolicies.push(obj as TrafficPolicy);
        break;
      case "skiff.dev/v1alpha1 PeerAuthentication":
        state.peerAuthentications.push(obj as PeerAuthentication);
        break;
      case "skiff.dev/v1alpha1 AuthorizationPolicy":
        state.authorizationPolicies.push(obj as AuthorizationPolicy);
        break;
      case "v1 Namespace":
        state.namespaces.push(obj as INamespace);
        break;
      case "v1 Service":
        state.services.push(obj as IService);
        break;
      case "v1 Pod":
        state.pods.push(obj as IPod);
        break;
      case "discovery.k8s.io/v1 EndpointSlice":
        state.endpointSlices.push(obj as IEndpointSlice);
        break;
    }
  }
  if (problems.length > 0) throw new BadInput(`invalid input:\n${problems.join("\n")}`);
  return state;
}

/**
 * The CRD's CEL rule that a rule routes or redirects, never both: without it
 * a rule would go nowhere, or silently redirect.
 */
function ruleActionIssues(obj: KubernetesObject): ValidationIssue[] {
  if (obj.kind !== "TrafficPolicy") return [];
  return ((obj as TrafficPolicy).spec.http ?? []).flatMap((rule, r) =>
    (rule.route === undefined) === (rule.redirect === undefined)
      ? [{ field: `spec.http[${r}]`, message: "exactly one of route, redirect must be set" }]
      : [],
  );
}

/** The workload port behind a Service port: a numeric targetPort, a named one in the Pod, or the port itself. */
function containerPort(port: { port: number; targetPort?: number | string }, pod: IPod | undefined): number {
  const target = port.targetPort;
  if (typeof target === "number") return target;
  if (typeof target === "string" && /^[0-9]+$/.test(target)) return Number(target);
  if (typeof target === "string") {
    for (const container of pod?.spec?.containers ?? [])
      for (const p of container.ports ?? []) if (p.name === target) return p.containerPort;
  }
  return port.port;
}

/**
 * remote.ip as a sidecar's inbound HTTP connection manager finds it: Skiff
 * trusts no proxy hops and does not set use_remote_address, so Envoy takes
 * the last address of X-Forwarded-For when it is an IP address, and the
 * connection's peer otherwise (undefined here). A client sidecar passes the
 * header on unchanged, so the caller's own header decides (found on real
 * sidecars by test/e2e/authorization.test.ts).
 */
function forwardedFor(headers: Readonly<Record<string, string>>): string | undefined {
  const last = headers["x-forwarded-for"]?.split(",").at(-1)?.trim();
  return last !== undefined && parseIp(last) ? last : undefined;
}
