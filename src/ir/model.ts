/**
 * The mesh model: what the data plane should do, as plain data. It holds no
 * Kubernetes and no Envoy types; `compile` builds it from cluster state and
 * `translate` turns it into Envoy resources. Durations are milliseconds and
 * percentages are numbers from 0 to 100. Every list is sorted, so equal
 * cluster states give equal models.
 */
import type { AuthorizationPolicyModel, EffectiveMtlsMode } from "./security.js";
import type { PolicySource } from "./source.js";

export interface MeshModel {
  /** DNS suffix of Service hostnames, such as cluster.local. */
  readonly clusterDomain: string;
  /** The SPIFFE trust domain. */
  readonly trustDomain: string;
  /** Services, sorted by namespace then name. */
  readonly services: readonly ServiceModel[];
  /** Pods that run a sidecar-capable workload with an IP, sorted by namespace then name. */
  readonly workloads: readonly WorkloadModel[];
  /** What every sidecar reports, from the Mesh's observability; undefined when there is no Mesh: no telemetry. */
  readonly telemetry?: TelemetryModel;
}

/**
 * Sidecar telemetry. Metrics are always on while there is a model at all;
 * access logs and traces are each optional.
 */
export interface TelemetryModel {
  /** One line per request or TCP connection on the sidecar's stdout; undefined: none. */
  readonly accessLog?: { readonly format: "JSON" | "TEXT" };
  /** Spans to the collector that the bootstrap names; undefined: no tracer. */
  readonly tracing?: { readonly samplingPercent: number };
}

export interface ServiceModel {
  /** The Service's namespace. */
  readonly namespace: string;
  /** The Service's name. */
  readonly name: string;
  /** The fully qualified name, such as reviews.bookinfo.svc.cluster.local. */
  readonly hostname: string;
  /** The ClusterIP; undefined for a headless Service. */
  readonly clusterIP?: string;
  /** The Service's ports, in the Service's order. */
  readonly ports: readonly ServicePortModel[];
  /** Ready endpoints, sorted by address: what clients may send to. */
  readonly endpoints: readonly EndpointModel[];
  /**
   * The Pods that the EndpointSlices list as not ready (`conditions.ready:
   * false`: starting, failing readiness, terminating), with their target
   * ports, sorted by address. Clients never get them, but each such Pod's own
   * inbound side still serves these ports, so that its PeerAuthentication and
   * AuthorizationPolicies hold there whatever its readiness. Left out when
   * there are none.
   */
  readonly unreadyEndpoints?: readonly UnreadyEndpointModel[];
  /** The traffic rules of the TrafficPolicy that governs this Service; undefined when none does. */
  readonly traffic?: TrafficModel;
}

/** How traffic on a port is understood: HTTP/1.1, HTTP/2 (gRPC) or opaque TCP. */
export type PortProtocol = "HTTP" | "HTTP2" | "TCP";

export interface ServicePortModel {
  /** The Service port's name; "" when unnamed. */
  readonly name: string;
  /** The port clients call (the Service port, not the target port). */
  readonly port: number;
  /** From the port's appProtocol or name, as Istio reads them (see compile/protocol.ts). */
  readonly protocol: PortProtocol;
}

export interface EndpointModel {
  /** The endpoint's IP address (IPv4 or IPv6). */
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

/** A Pod that a Service lists as not ready: only its own inbound side uses it. */
export interface UnreadyEndpointModel {
  /** The endpoint's IP address. */
  readonly address: string;
  /** namespace/name of the Pod behind the endpoint. */
  readonly workload: string;
  /** The endpoint's port for each Service port name. */
  readonly ports: Readonly<Record<string, number>>;
}

/** What a workload's sidecar accepts inbound, decided by PeerAuthentication (see `effectiveMtls`). */
export interface WorkloadMtlsModel {
  /** The mode of a port with no port-level override. */
  readonly mode: EffectiveMtlsMode;
  /**
   * The mode of each port that a Service targets on this workload (ready or
   * not), and of each port that its workload-level PeerAuthentication sets in
   * `portLevelMtls`, keyed by container port.
   */
  readonly portModes: Readonly<Record<number, EffectiveMtlsMode>>;
}

/** A Pod that may run a sidecar: its inbound side is configured from the Services that select it. */
export interface WorkloadModel {
  /** namespace/name. */
  readonly key: string;
  /** The Pod's IP: its inbound listeners bind to it. */
  readonly address: string;
  /** The Pod's labels: policies' selectors match on them. */
  readonly labels: Readonly<Record<string, string>>;
  /** The Pod's ServiceAccount ("default" when it names none): its SPIFFE identity. */
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
  /**
   * The Services its sidecar is configured for (Istio's Sidecar egress
   * hosts); undefined: every Service of the mesh. Traffic to any other
   * Service leaves through the sidecar's passthrough, to the address the
   * application dialled.
   */
  readonly egress?: readonly EgressHostModel[];
}

/** One egress host: the Services of a namespace whose hostname matches a DNS name. */
export interface EgressHostModel {
  /** A namespace, "*" for every namespace, or "~" for none. */
  readonly namespace: string;
  /** "*" for every Service, "*.<suffix>" for hostnames that end in .<suffix>, or one hostname. */
  readonly dnsName: string;
}

export type DataPlane = "sidecar" | "proxyless";

export interface TrafficModel {
  readonly source: PolicySource;
  /** Subsets, sorted by name. */
  readonly subsets: readonly SubsetModel[];
  /** HTTP rules in order; the first that matches decides. */
  readonly http: readonly HttpRuleModel[];
  /** Where TCP connections go; undefined sends them to the whole Service. */
  readonly tcp?: readonly WeightedDestination[];
  /** How a client picks an endpoint; RoundRobin unless the policy says otherwise. */
  readonly loadBalancer: LoadBalancerModel;
  /** Limits on the client's connections and requests to the Service; undefined: Envoy's defaults. */
  readonly connectionPool?: ConnectionPoolModel;
  /** When clients eject a failing endpoint; undefined: never. */
  readonly outlierDetection?: OutlierDetectionModel;
  /** A token bucket on the inbound side of every endpoint. */
  readonly localRateLimit?: LocalRateLimitModel;
}

export interface SubsetModel {
  /** What rules' destinations name. */
  readonly name: string;
  /** The endpoints whose Pod has all these labels belong to the subset. */
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
  /** Where matching requests go, split by weight. */
  readonly destinations: readonly WeightedDestination[];
  /** The whole request's timeout, retries included; undefined: no timeout. */
  readonly timeoutMs?: number;
  /** undefined turns retries off. */
  readonly retry?: RetryModel;
  /** Delays or errors the client's proxy injects for testing. */
  readonly fault?: FaultModel;
  /** A copy of `percent` of the requests also goes to the subset (or the whole Service); answers are dropped. */
  readonly mirror?: { readonly subset?: string; readonly percent: number };
  /** Changes to the request's headers before it is forwarded. */
  readonly requestHeaders?: HeaderMutation;
  /** Changes to the response's headers before the client sees them. */
  readonly responseHeaders?: HeaderMutation;
  /** Replaces the matched path prefix and/or the Host before forwarding. */
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

/** One match: every condition given must hold. */
export interface RequestMatch {
  /** The path without the query string; undefined: any path. */
  readonly path?: StringMatch;
  /** The HTTP method, exactly; undefined: any method. */
  readonly method?: string;
  /** Conditions on request headers. */
  readonly headers: readonly ValueMatch[];
  /** Conditions on query parameters. */
  readonly queryParams: readonly ValueMatch[];
}

export type StringMatch =
  | { readonly kind: "Exact"; readonly value: string }
  | { readonly kind: "Prefix"; readonly value: string }
  | { readonly kind: "Regex"; readonly value: string };

/** A header or query parameter condition. */
export interface ValueMatch {
  /** The header or query parameter. */
  readonly name: string;
  /** How its value must look, or only whether it is there. */
  readonly match: StringMatch | { readonly kind: "Present"; readonly present: boolean };
  /** The condition holds when the match does not. */
  readonly invert: boolean;
}

export interface WeightedDestination {
  /** undefined: every endpoint of the Service. */
  readonly subset?: string;
  /** Relative to the rule's other destinations; 0 sends nothing. Compile defaults it to 100. */
  readonly weight: number;
}

export interface RetryModel {
  /** Retries after the first try (not tries in all). */
  readonly attempts: number;
  /** Each try's timeout; undefined: only the rule's timeout bounds them. */
  readonly perTryTimeoutMs?: number;
  /** Envoy's retry conditions (x-envoy-retry-on), such as connect-failure or 5xx. */
  readonly retryOn: readonly string[];
  /** The statuses that the retriable-status-codes condition retries. */
  readonly retriableStatusCodes?: readonly number[];
}

export interface FaultModel {
  /** `percent` of the requests wait `delayMs` before they are forwarded. */
  readonly delay?: { readonly delayMs: number; readonly percent: number };
  /** `percent` of the requests are answered with the status instead of being forwarded. */
  readonly abort?: {
    readonly status:
      { readonly kind: "Http"; readonly code: number } | { readonly kind: "Grpc"; readonly code: number };
    readonly percent: number;
  };
}

export interface HeaderMutation {
  /** Replace the header's values. Sorted by name. */
  readonly set: readonly { readonly name: string; readonly value: string }[];
  /** Append a value to the header's. Sorted by name. */
  readonly add: readonly { readonly name: string; readonly value: string }[];
  /** Headers to drop. Sorted. */
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

/** Per client proxy and Service; undefined fields keep Envoy's defaults. */
export interface ConnectionPoolModel {
  /** Open connections to all endpoints together (HTTP/1.1 and TCP). */
  readonly maxConnections?: number;
  /** How long a new connection may take to open. */
  readonly connectTimeoutMs?: number;
  /** Requests waiting for a connection. */
  readonly maxPendingRequests?: number;
  /** Requests in flight to all endpoints together. */
  readonly maxRequests?: number;
  /** Requests on one connection before it is closed; 0: unlimited. */
  readonly maxRequestsPerConnection?: number;
  /** Retries in flight to all endpoints together. */
  readonly maxRetries?: number;
  /** An unused connection is closed after this long. */
  readonly idleTimeoutMs?: number;
}

/** Undefined fields keep Envoy's defaults. */
export interface OutlierDetectionModel {
  /** 5xx answers in a row that eject an endpoint; 0 turns this check off. */
  readonly consecutive5xxErrors?: number;
  /** 502, 503 and 504 answers in a row that eject an endpoint; 0 turns this check off. */
  readonly consecutiveGatewayErrors?: number;
  /** How often ejections are considered. */
  readonly intervalMs?: number;
  /** An ejected endpoint stays out this long times the number of its ejections. */
  readonly baseEjectionTimeMs?: number;
  /** At most this share (0 to 100) of the endpoints is ejected at once. */
  readonly maxEjectionPercent?: number;
}

/** A token bucket per endpoint's sidecar: a request takes a token or is refused. */
export interface LocalRateLimitModel {
  /** The bucket's size, and what it holds at the start. */
  readonly maxTokens: number;
  /** Tokens added every fill interval. */
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** The status a refused request gets; compile defaults it to 429. */
  readonly statusCode: number;
}
