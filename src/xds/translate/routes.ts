import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type {
  FaultModel,
  HashModel,
  HeaderMutation,
  HttpRedirectRuleModel,
  HttpRouteRuleModel,
  HttpRuleModel,
  RedirectCode,
  RequestMatch,
  RetryModel,
  ServiceModel,
  ServicePortModel,
  StringMatch,
  ValueMatch,
  WeightedDestination,
} from "../../ir/model.js";
import { DEFAULT_RETRY, WHOLE_SERVICE } from "../../ir/defaults.js";
import { compact, duration, fraction, typed } from "./json.js";
import { hostPortName, outboundClusterName } from "./names.js";
import { ROUTE_TYPE, type EnvoyResource } from "./resource.js";

export const FAULT_FILTER = "envoy.filters.http.fault";

/**
 * The client kind a route configuration is for: they differ only in how a
 * rule's timeout is written (see ruleRoute).
 */
type RouteClient = "sidecar" | "proxyless";

/** One route configuration per Service port, shared by sidecars and proxyless clients. */
export function routeConfigurations(service: ServiceModel, client: RouteClient = "sidecar"): EnvoyResource[] {
  return service.ports.map((port) => {
    const name = hostPortName(service.hostname, port.port);
    return {
      typeUrl: ROUTE_TYPE,
      name,
      json: {
        name,
        virtual_hosts: [{ name, domains: domains(service, port), routes: routes(service, port, client) }],
        validate_clusters: false,
      },
    };
  });
}

/**
 * The route configurations that proxyless gRPC clients get in place of the
 * shared ones (same names), for a Service with a rule that sets a timeout;
 * none otherwise, as the shared ones then serve both kinds of client.
 */
export function proxylessRouteConfigurations(service: ServiceModel): EnvoyResource[] {
  const timed =
    service.traffic?.http.some((rule) => rule.kind === "Route" && rule.timeoutMs !== undefined) ?? false;
  return timed ? routeConfigurations(service, "proxyless") : [];
}

/** The names a client may use for the Service: short, namespaced and fully qualified, with and without the port. */
function domains(service: ServiceModel, port: ServicePortModel): string[] {
  const hosts = [
    service.hostname,
    `${service.name}.${service.namespace}.svc`,
    `${service.name}.${service.namespace}`,
    service.name,
    ...(service.clusterIP ? [service.clusterIP] : []),
  ];
  return hosts.flatMap((h) => [h, `${h}:${port.port}`]);
}

function routes(service: ServiceModel, port: ServicePortModel, client: RouteClient): JsonObject[] {
  const rules = service.traffic?.http ?? [];
  const hash =
    service.traffic?.loadBalancer.kind === "RingHash" || service.traffic?.loadBalancer.kind === "Maglev"
      ? [hashPolicy(service.traffic.loadBalancer.hash)]
      : undefined;
  const result = rules.flatMap((rule) => {
    const matches = rule.matches.length > 0 ? rule.matches : [undefined];
    return matches.map((match, i) =>
      ruleRoute(
        service,
        port,
        rule,
        match,
        matches.length > 1 ? `${rule.name}.${i}` : rule.name,
        hash,
        client,
      ),
    );
  });
  // A request that matches no rule goes to the whole Service, as API.md promises.
  if (!rules.some((r) => r.matches.length === 0 || r.matches.some(isCatchAll))) {
    result.push(
      ruleRoute(
        service,
        port,
        {
          kind: "Route",
          name: "default",
          matches: [],
          destinations: WHOLE_SERVICE,
          retry: DEFAULT_RETRY,
        },
        undefined,
        "default",
        hash,
        client,
      ),
    );
  }
  return result;
}

const isCatchAll = (m: RequestMatch) =>
  (m.path === undefined || (m.path.kind === "Prefix" && m.path.value === "/")) &&
  m.method === undefined &&
  m.headers.length === 0 &&
  m.queryParams.length === 0;

function ruleRoute(
  service: ServiceModel,
  port: ServicePortModel,
  rule: HttpRuleModel,
  match: RequestMatch | undefined,
  name: string,
  hash: JsonObject[] | undefined,
  client: RouteClient,
): JsonObject {
  if (rule.kind === "Redirect") return redirectRoute(rule, match, name);
  const cluster = (subset: string | undefined) => outboundClusterName(port.port, subset, service.hostname);
  return compact({
    name,
    match: routeMatch(match),
    route: compact({
      ...destination(rule.destinations, cluster),
      // Envoy's default is 15s; Istio's, and ours, is no timeout unless the rule sets one.
      timeout: duration(rule.timeoutMs ?? 0),
      // gRPC clients read the deadline from max_stream_duration, not from timeout
      // (gRFC A31). Sidecars must not get it: with max_stream_duration present
      // Envoy ignores timeout and times the whole stream from its start, so
      // the timeout would cut the fault filter's injected delays, which the
      // API exempts from it.
      max_stream_duration:
        rule.timeoutMs === undefined || client === "sidecar"
          ? undefined
          : {
              max_stream_duration: duration(rule.timeoutMs),
              grpc_timeout_header_max: duration(rule.timeoutMs),
            },
      retry_policy: rule.retry ? retryPolicy(rule.retry) : undefined,
      request_mirror_policies: rule.mirror
        ? [
            {
              cluster: cluster(rule.mirror.subset),
              runtime_fraction: { default_value: fraction(rule.mirror.percent) },
            },
          ]
        : undefined,
      ...rewrite(rule, match),
      hash_policy: hash,
    }),
    ...headerMutation("request", rule.requestHeaders),
    ...headerMutation("response", rule.responseHeaders),
    typed_per_filter_config: rule.fault ? { [FAULT_FILTER]: faultConfig(rule.fault) } : undefined,
  });
}

/** Envoy's RedirectAction response codes, by status. */
const REDIRECT_RESPONSE_CODE: Record<RedirectCode, string> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

/**
 * The client's proxy answers the redirect itself (Istio's HTTPRedirect): the
 * path is replaced whole, whatever the match, so path_redirect and never
 * prefix_rewrite. Response headers still apply to the redirect response.
 */
function redirectRoute(
  rule: HttpRedirectRuleModel,
  match: RequestMatch | undefined,
  name: string,
): JsonObject {
  const r = rule.redirect;
  return compact({
    name,
    match: routeMatch(match),
    redirect: compact({
      path_redirect: r.path,
      host_redirect: r.authority,
      port_redirect: r.port,
      scheme_redirect: r.scheme,
      response_code: REDIRECT_RESPONSE_CODE[r.code],
    }),
    ...headerMutation("response", rule.responseHeaders),
  });
}

function routeMatch(match: RequestMatch | undefined): JsonObject {
  const path = match?.path;
  return compact({
    ...(path === undefined
      ? { prefix: "/" }
      : path.kind === "Exact"
        ? { path: path.value }
        : path.kind === "Prefix"
          ? { prefix: path.value }
          : { safe_regex: { regex: path.value } }),
    headers:
      match && (match.method !== undefined || match.headers.length > 0)
        ? [
            ...(match.method !== undefined
              ? [{ name: ":method", string_match: { exact: match.method } }]
              : []),
            ...match.headers.map(headerMatcher),
          ]
        : undefined,
    query_parameters: match && match.queryParams.length > 0 ? match.queryParams.map(queryMatcher) : undefined,
  });
}

function stringMatcher(m: StringMatch): JsonObject {
  return m.kind === "Exact"
    ? { exact: m.value }
    : m.kind === "Prefix"
      ? { prefix: m.value }
      : { safe_regex: { regex: m.value } };
}

function headerMatcher(h: ValueMatch): JsonObject {
  return compact({
    name: h.name,
    ...(h.match.kind === "Present"
      ? { present_match: h.match.present }
      : { string_match: stringMatcher(h.match) }),
    invert_match: h.invert || undefined,
  });
}

function queryMatcher(q: ValueMatch): JsonObject {
  return q.match.kind === "Present"
    ? { name: q.name, present_match: true }
    : { name: q.name, string_match: stringMatcher(q.match) };
}

function destination(
  destinations: readonly WeightedDestination[],
  cluster: (subset: string | undefined) => string,
): JsonObject {
  const weighted = destinations.filter((d) => d.weight > 0);
  if (weighted.length === 1) return { cluster: cluster(weighted[0]!.subset) };
  return {
    weighted_clusters: { clusters: weighted.map((d) => ({ name: cluster(d.subset), weight: d.weight })) },
  };
}

function retryPolicy(retry: RetryModel): JsonObject {
  return compact({
    retry_on: retry.retryOn.join(","),
    num_retries: retry.attempts,
    retriable_status_codes: retry.retriableStatusCodes ? [...retry.retriableStatusCodes] : undefined,
    per_try_timeout: retry.perTryTimeoutMs === undefined ? undefined : duration(retry.perTryTimeoutMs),
    // As Istio does: retry on a different endpoint when there is one.
    retry_host_predicate: [
      {
        name: "envoy.retry_host_predicates.previous_hosts",
        typed_config: typed("envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"),
      },
    ],
    host_selection_retry_max_attempts: "5",
  });
}

/**
 * uriPrefix replaces the matched prefix. An exact path is its own prefix; a
 * regex match has no prefix, so the whole path is replaced.
 */
function rewrite(rule: HttpRouteRuleModel, match: RequestMatch | undefined): Record<string, JsonValue> {
  const uriPrefix = rule.rewrite?.uriPrefix;
  return compact({
    ...(uriPrefix === undefined
      ? {}
      : match?.path?.kind === "Regex"
        ? { regex_rewrite: { pattern: { regex: "^.*$" }, substitution: uriPrefix } }
        : { prefix_rewrite: uriPrefix }),
    host_rewrite_literal: rule.rewrite?.authority,
  });
}

/**
 * Header values are literal in the API, but Envoy reads them as substitution
 * format strings (`%HOSTNAME%`; a lone `%` is an error, so the route is
 * NACKed): `%%` is Envoy's literal `%`.
 */
const literal = (value: string) => value.replaceAll("%", "%%");

function headerMutation(direction: "request" | "response", h: HeaderMutation | undefined): JsonObject {
  if (!h) return {};
  const add = [
    ...h.set.map((x) => ({
      header: { key: x.name, value: literal(x.value) },
      append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
    })),
    ...h.add.map((x) => ({
      header: { key: x.name, value: literal(x.value) },
      append_action: "APPEND_IF_EXISTS_OR_ADD",
    })),
  ];
  return compact({
    [`${direction}_headers_to_add`]: add.length > 0 ? add : undefined,
    [`${direction}_headers_to_remove`]: h.remove.length > 0 ? [...h.remove] : undefined,
  });
}

function faultConfig(fault: FaultModel): JsonObject {
  return typed(
    "envoy.extensions.filters.http.fault.v3.HTTPFault",
    compact({
      delay: fault.delay
        ? { fixed_delay: duration(fault.delay.delayMs), percentage: fraction(fault.delay.percent) }
        : undefined,
      abort: fault.abort
        ? {
            ...(fault.abort.status.kind === "Http"
              ? { http_status: fault.abort.status.code }
              : { grpc_status: fault.abort.status.code }),
            percentage: fraction(fault.abort.percent),
          }
        : undefined,
    }),
  );
}

function hashPolicy(hash: HashModel): JsonObject {
  switch (hash.kind) {
    case "Header":
      return { header: { header_name: hash.name } };
    case "Cookie":
      return {
        cookie: compact({
          name: hash.name,
          ttl: hash.ttlMs === undefined ? undefined : duration(hash.ttlMs),
          path: hash.path,
        }),
      };
    case "SourceIP":
      return { connection_properties: { source_ip: true } };
    case "QueryParam":
      return { query_parameter: { name: hash.name } };
  }
}
