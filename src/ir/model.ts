/**
 * The mesh model: what the data plane should do, as plain data. It holds no
 * Kubernetes and no Envoy types; `compile` builds it from cluster state and
 * `translate` turns it into Envoy resources. Durations are milliseconds and
 * percentages are numbers from 0 to 100. Every list is sorted, so equal
 * cluster states give equal models.
 */
import type { AuthorizationPolicyModel, EffectiveMtlsMode } from "./security.js";

export interface MeshModel {
  /** DNS suffix of Service hostnames, such as cluster.local. */
  readonly clusterDomain: string;
  /** The SPIFFE trust domain. */
  readonly trustDomain: string;
  /** Services, sorted by namespace then name. */
  readonly services: readonly ServiceModel[];
  /** Pods that run a sidecar-capable workload with an IP, sorted by namespace then name. */
  readonly workloads: readonly WorkloadModel[];
}

export interface ServiceModel {
  readonly namespace: string;
  readonly name: string;
  /** The fully qualified name, such as reviews.bookinfo.svc.cluster.local. */
  readonly hostname: string;
  /** The ClusterIP; undefined for a headless Service. */
  readonly clusterIP?: string;
  readonly ports: readonly ServicePortModel[];
  /** Ready endpoints, sorted by address. */
  readonly endpoints: readonly EndpointModel[];
  /** The traffic rules of the TrafficPolicy that governs this Service; undefined when none does. */
  readonly traffic?: TrafficModel;
}

/** How traffic on a port is understood: HTTP/1.1, HTTP/2 (gRPC) or opaque TCP. */
export type PortProtocol = "HTTP" | "HTTP2" | "TCP";

export interface ServicePortModel {
  /** The Service port's name; "" when unnamed. */
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
}

export interface EndpointModel {
  readonly address: string;
  /** The endpoint's port for each Service port name. */
  readonly ports: Readonly<Record<string, number>>;
  /** The labels of the Pod behind the endpoint; subsets select on them. */
  readonly labels: Readonly<Record<string, string>>;
  /** namespace/name of the Pod behind the endpoint, when known. */
  readonly workload?: string;
  /** The ServiceAccount of the Pod behind the endpoint ("default" when it names none); undefined when no Pod is known. */
  readonly serviceAccount?: string;
  /**
   * What the endpoint accepts on each Service port (keyed like `ports`, by
   * Service port name): its workload's effective mTLS mode at the target
   * port. Undefined for an endpoint that is not a meshed workload (no Pod, or
   * a Pod outside the meshed namespaces), which only speaks plaintext.
   */
  readonly mtls?: Readonly<Record<string, EffectiveMtlsMode>>;
}

/** What a workload's sidecar accepts inbound, decided by PeerAuthentication (see `effectiveMtls`). */
export interface WorkloadMtlsModel {
  /** The mode of a port with no port-level override. */
  readonly mode: EffectiveMtlsMode;
  /** The mode of each port that a Service targets on this workload, keyed by container port. */
  readonly portModes: Readonly<Record<number, EffectiveMtlsMode>>;
}

/** A Pod that may run a sidecar: its inbound side is configured from the Services that select it. */
export interface WorkloadModel {
  /** namespace/name. */
  readonly key: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** The AuthorizationPolicies that apply to this workload (its namespace's, and the root namespace's). */
  readonly authorization: readonly AuthorizationPolicyModel[];
  /** The inbound mTLS mode, per served port. */
  readonly mtls: WorkloadMtlsModel;
  /**
   * What serves the workload's inbound side: an Envoy sidecar, or the
   * application itself as a proxyless gRPC server (an xDS-enabled server).
   */
  readonly dataPlane: DataPlane;
}

export type DataPlane = "sidecar" | "proxyless";

/** Where a policy came from, so that proxy ACKs can be mapped back to it. */
export interface PolicySource {
  readonly namespace: string;
  readonly name: string;
  readonly generation: number;
}

export interface TrafficModel {
  readonly source: PolicySource;
  /** Subsets, sorted by name. */
  readonly subsets: readonly SubsetModel[];
  /** HTTP rules in order; the first that matches decides. */
  readonly http: readonly HttpRuleModel[];
  /** Where TCP connections go; undefined sends them to the whole Service. */
  readonly tcp?: readonly WeightedDestination[];
  readonly loadBalancer: LoadBalancerModel;
  readonly connectionPool?: ConnectionPoolModel;
  readonly outlierDetection?: OutlierDetectionModel;
  /** A token bucket on the inbound side of every endpoint. */
  readonly localRateLimit?: LocalRateLimitModel;
}

export interface SubsetModel {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * An HTTP rule: it either forwards a matching request (`Route`) or has the
 * client's proxy answer it with a redirect (`Redirect`).
 */
export type HttpRuleModel = HttpRouteRuleModel | HttpRedirectRuleModel;

export interface HttpRouteRuleModel {
  readonly kind: "Route";
  /** The rule's name, or its index in the policy when it has none. */
  readonly name: string;
  /** The rule applies when any match holds; empty means every request. */
  readonly matches: readonly RequestMatch[];
  readonly destinations: readonly WeightedDestination[];
  readonly timeoutMs?: number;
  /** undefined turns retries off. */
  readonly retry?: RetryModel;
  readonly fault?: FaultModel;
  readonly mirror?: { readonly subset?: string; readonly percent: number };
  readonly requestHeaders?: HeaderMutation;
  readonly responseHeaders?: HeaderMutation;
  readonly rewrite?: { readonly uriPrefix?: string; readonly authority?: string };
}

export interface HttpRedirectRuleModel {
  readonly kind: "Redirect";
  /** The rule's name, or its index in the policy when it has none. */
  readonly name: string;
  /** The rule applies when any match holds; empty means every request. */
  readonly matches: readonly RequestMatch[];
  readonly redirect: RedirectModel;
  /** Changes to the headers of the redirect response. */
  readonly responseHeaders?: HeaderMutation;
}

/**
 * A redirect answered by the client's proxy: the Location is the request's
 * URL with the parts given here replaced; undefined parts are the request's.
 */
export interface RedirectModel {
  /** Replaces the whole path; the request's query string is kept unless this has its own. */
  readonly path?: string;
  /** Replaces the host, and with it the request's port. */
  readonly authority?: string;
  /** Replaces the port. */
  readonly port?: number;
  readonly scheme?: "http" | "https";
  /** The response status; compile defaults it to 301. */
  readonly code: RedirectCode;
}

export type RedirectCode = 301 | 302 | 303 | 307 | 308;

export interface RequestMatch {
  readonly path?: StringMatch;
  readonly method?: string;
  readonly headers: readonly ValueMatch[];
  readonly queryParams: readonly ValueMatch[];
}

export type StringMatch =
  | { readonly kind: "Exact"; readonly value: string }
  | { readonly kind: "Prefix"; readonly value: string }
  | { readonly kind: "Regex"; readonly value: string };

/** A header or query parameter condition. */
export interface ValueMatch {
  readonly name: string;
  readonly match: StringMatch | { readonly kind: "Present"; readonly present: boolean };
  readonly invert: boolean;
}

export interface WeightedDestination {
  /** undefined: every endpoint of the Service. */
  readonly subset?: string;
  readonly weight: number;
}

export interface RetryModel {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  readonly retryOn: readonly string[];
  /** The statuses that the retriable-status-codes condition retries. */
  readonly retriableStatusCodes?: readonly number[];
}

export interface FaultModel {
  readonly delay?: { readonly delayMs: number; readonly percent: number };
  readonly abort?: {
    readonly status:
      { readonly kind: "Http"; readonly code: number } | { readonly kind: "Grpc"; readonly code: number };
    readonly percent: number;
  };
}

export interface HeaderMutation {
  /** Sorted by name. */
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export type LoadBalancerModel =
  | { readonly kind: "RoundRobin" }
  | { readonly kind: "LeastRequest" }
  | { readonly kind: "Random" }
  | { readonly kind: "RingHash"; readonly hash: HashModel }
  | { readonly kind: "Maglev"; readonly hash: HashModel };

export type HashModel =
  | { readonly kind: "Header"; readonly name: string }
  | { readonly kind: "Cookie"; readonly name: string; readonly ttlMs?: number; readonly path?: string }
  | { readonly kind: "SourceIP" }
  | { readonly kind: "QueryParam"; readonly name: string };

export interface ConnectionPoolModel {
  readonly maxConnections?: number;
  readonly connectTimeoutMs?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRequestsPerConnection?: number;
  readonly maxRetries?: number;
  readonly idleTimeoutMs?: number;
}

export interface OutlierDetectionModel {
  readonly consecutive5xxErrors?: number;
  readonly consecutiveGatewayErrors?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
}

export interface LocalRateLimitModel {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  readonly statusCode: number;
}
