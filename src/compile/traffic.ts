import { durationMs } from "../api/duration.js";
import { GRPC_STATUS } from "../api/v1alpha1/trafficpolicy.js";
import type {
  ConnectionPool,
  Destination,
  FaultInjection,
  HashPolicy,
  HTTPMatch,
  HTTPRule,
  LoadBalancer,
  TrafficPolicy,
} from "../api/v1alpha1/generated/trafficpolicy.js";
import type {
  ConnectionPoolModel,
  FaultModel,
  HashModel,
  HeaderMutation,
  HttpRuleModel,
  LoadBalancerModel,
  RequestMatch,
  RetryModel,
  StringMatch,
  TrafficModel,
  ValueMatch,
  WeightedDestination,
} from "../ir/model.js";
import { DEFAULT_RETRY, DEFAULT_WEIGHT } from "../ir/defaults.js";
import { defined, definedLabels } from "./defined.js";

const ms = (text: string | undefined) => (text === undefined ? undefined : durationMs(text));

/** A TrafficPolicy's spec as the mesh model; the API server has already checked its shape and CEL rules. */
export function trafficModel(policy: TrafficPolicy): TrafficModel {
  const spec = policy.spec;
  return defined({
    source: {
      namespace: policy.metadata.namespace ?? "",
      name: policy.metadata.name ?? "",
      generation: policy.metadata.generation ?? 0,
    },
    subsets: (spec.subsets ?? [])
      .map((s) => ({ name: s.name, labels: definedLabels(s.labels) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    http: (spec.http ?? []).map(httpRule),
    tcp: spec.tcp?.[0]?.route ? destinations(spec.tcp[0].route) : undefined,
    loadBalancer: loadBalancer(spec.loadBalancer),
    connectionPool: spec.connectionPool ? connectionPool(spec.connectionPool) : undefined,
    outlierDetection: spec.outlierDetection
      ? defined({
          consecutive5xxErrors: spec.outlierDetection.consecutive5xxErrors,
          consecutiveGatewayErrors: spec.outlierDetection.consecutiveGatewayErrors,
          intervalMs: ms(spec.outlierDetection.interval),
          baseEjectionTimeMs: ms(spec.outlierDetection.baseEjectionTime),
          maxEjectionPercent: spec.outlierDetection.maxEjectionPercent,
        })
      : undefined,
    localRateLimit: spec.rateLimit?.local
      ? {
          maxTokens: spec.rateLimit.local.maxTokens,
          tokensPerFill: spec.rateLimit.local.tokensPerFill,
          fillIntervalMs: durationMs(spec.rateLimit.local.fillInterval),
          statusCode: spec.rateLimit.local.statusCode ?? 429,
        }
      : undefined,
  });
}

function destinations(route: Destination[]): WeightedDestination[] {
  return route.map((d) => defined({ subset: d.subset, weight: d.weight ?? DEFAULT_WEIGHT }));
}

/**
 * A rule with a redirect is a redirect rule, even offline where the CEL rule
 * that forbids route beside it is not checked: as in Istio, the redirect wins.
 */
function httpRule(rule: HTTPRule, index: number): HttpRuleModel {
  const name = rule.name ?? String(index);
  const matches = (rule.match ?? []).map(requestMatch);
  if (rule.redirect) {
    return defined({
      kind: "Redirect" as const,
      name,
      matches,
      redirect: defined({
        path: rule.redirect.uri,
        authority: rule.redirect.authority,
        port: rule.redirect.port,
        scheme: rule.redirect.scheme,
        code: rule.redirect.redirectCode ?? 301,
      }),
      responseHeaders: rule.headers?.response ? headerMutation(rule.headers.response) : undefined,
    });
  }
  return defined({
    kind: "Route" as const,
    name,
    matches,
    destinations: destinations(rule.route ?? []),
    timeoutMs: ms(rule.timeout),
    retry: retry(rule),
    fault: rule.fault ? fault(rule.fault) : undefined,
    mirror: rule.mirror
      ? defined({ subset: rule.mirror.subset, percent: rule.mirror.percent ?? 100 })
      : undefined,
    requestHeaders: rule.headers?.request ? headerMutation(rule.headers.request) : undefined,
    responseHeaders: rule.headers?.response ? headerMutation(rule.headers.response) : undefined,
    rewrite: rule.rewrite ? defined({ ...rule.rewrite }) : undefined,
  });
}

function retry(rule: HTTPRule): RetryModel | undefined {
  if (!rule.retries) return DEFAULT_RETRY;
  if (rule.retries.attempts === 0) return undefined;
  const conditions = rule.retries.retryOn?.length
    ? { retryOn: [...rule.retries.retryOn] }
    : // Istio's default conditions, with their status (503), as Istio keeps them when only attempts is set.
      { retryOn: DEFAULT_RETRY.retryOn, retriableStatusCodes: DEFAULT_RETRY.retriableStatusCodes };
  return defined({
    attempts: rule.retries.attempts,
    perTryTimeoutMs: ms(rule.retries.perTryTimeout),
    ...conditions,
  });
}

function requestMatch(match: HTTPMatch): RequestMatch {
  const path = match.path;
  return defined({
    path: path ? stringMatch(path) : undefined,
    method: match.method,
    headers: (match.headers ?? []).map(valueMatch),
    queryParams: (match.queryParams ?? []).map(valueMatch),
  });
}

function stringMatch(m: { exact?: string; prefix?: string; regex?: string }): StringMatch {
  if (m.exact !== undefined) return { kind: "Exact", value: m.exact };
  if (m.prefix !== undefined) return { kind: "Prefix", value: m.prefix };
  return { kind: "Regex", value: m.regex ?? "" };
}

function valueMatch(m: {
  name: string;
  exact?: string;
  prefix?: string;
  regex?: string;
  present?: boolean;
  invert?: boolean;
}): ValueMatch {
  return {
    name: m.name,
    match: m.present !== undefined ? { kind: "Present", present: m.present } : stringMatch(m),
    invert: m.invert ?? false,
  };
}

function fault(f: FaultInjection): FaultModel {
  return defined({
    delay: f.delay ? { delayMs: durationMs(f.delay.fixedDelay), percent: f.delay.percent ?? 100 } : undefined,
    abort: f.abort
      ? {
          status:
            f.abort.grpcStatus !== undefined
              ? { kind: "Grpc" as const, code: GRPC_STATUS.indexOf(f.abort.grpcStatus) + 1 }
              : { kind: "Http" as const, code: f.abort.httpStatus ?? 503 },
          percent: f.abort.percent ?? 100,
        }
      : undefined,
  });
}

function headerMutation(h: {
  set?: Record<string, string | undefined>;
  add?: Record<string, string | undefined>;
  remove?: string[];
}): HeaderMutation {
  const pairs = (m: Record<string, string | undefined> | undefined) =>
    Object.entries(definedLabels(m ?? {})).map(([name, value]) => ({ name, value }));
  return { set: pairs(h.set), add: pairs(h.add), remove: [...(h.remove ?? [])].sort() };
}

function loadBalancer(lb: LoadBalancer | undefined): LoadBalancerModel {
  const algorithm = lb?.algorithm ?? "RoundRobin";
  if (algorithm === "RingHash" || algorithm === "Maglev")
    return { kind: algorithm, hash: hash(lb?.hash ?? {}) };
  return { kind: algorithm };
}

function hash(h: HashPolicy): HashModel {
  if (h.header !== undefined) return { kind: "Header", name: h.header };
  if (h.cookie !== undefined)
    return defined({
      kind: "Cookie" as const,
      name: h.cookie.name,
      ttlMs: ms(h.cookie.ttl),
      path: h.cookie.path,
    });
  if (h.queryParam !== undefined) return { kind: "QueryParam", name: h.queryParam };
  return { kind: "SourceIP" };
}

function connectionPool(pool: ConnectionPool): ConnectionPoolModel {
  return defined({
    maxConnections: pool.tcp?.maxConnections,
    connectTimeoutMs: ms(pool.tcp?.connectTimeout),
    maxPendingRequests: pool.http?.maxPendingRequests,
    maxRequests: pool.http?.maxRequests,
    maxRequestsPerConnection: pool.http?.maxRequestsPerConnection,
    maxRetries: pool.http?.maxRetries,
    idleTimeoutMs: ms(pool.http?.idleTimeout),
  });
}
