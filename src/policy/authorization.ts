import type {
  AuthorizationAction,
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  ConditionModel,
  OperationModel,
  SourceModel,
} from "../ir/security.js";
import { cidrContains, labelsInclude, matchesPattern, valuesHold } from "./match.js";
import type { WorkloadRef } from "./mtls.js";

/**
 * A request as the server-side proxy sees it. Attributes that are undefined
 * are absent: they match no value, and so every `not*` field and `notValues`.
 */
export interface AuthorizationRequest {
  /** HTTP (the default) or opaque TCP; on TCP the HTTP-only fields are handled as Istio does. */
  readonly protocol?: "HTTP" | "TCP";
  /** The peer identity `<trustDomain>/ns/<ns>/sa/<sa>`; present only with mTLS. */
  readonly principal?: string;
  /** The connection's source address (source.ip, ipBlocks). */
  readonly sourceIp?: string;
  /**
   * The original client address (remote.ip); defaults to sourceIp. On HTTP a
   * sidecar takes it from X-Forwarded-For (see simulate's forwardedFor).
   */
  readonly remoteIp?: string;
  /** The workload's address (destination.ip). */
  readonly destinationIp?: string;
  /** The workload (container) port the request arrives on. */
  readonly port: number;
  /** The :authority (Host) header, port included when the client sent one. */
  readonly host?: string;
  /** The HTTP method. */
  readonly method?: string;
  /** The request path; a query string or fragment is ignored, as Envoy's url_path. */
  readonly path?: string;
  /** Request headers; names are compared case-insensitively. Repeat a header by joining with ",". */
  readonly headers?: Readonly<Record<string, string>>;
  /** The TLS server name the client sent (connection.sni). */
  readonly sni?: string;
}

/** The decision, and what made it. */
export interface AuthorizationDecision {
  readonly decision: "ALLOW" | "DENY";
  /** `namespace/name` of the policy that decided; null when the default decided. */
  readonly policy: string | null;
  /** The index of the deciding rule in that policy's spec.rules; null with `policy`. */
  readonly rule: number | null;
  /** One sentence for people. */
  readonly reason: string;
  /** Every AUDIT rule that matched, as `namespace/name/index`; AUDIT never decides. */
  readonly audited: readonly string[];
}

/**
 * Whether a policy applies to a workload, as Istio selects them:
 *
 * - a policy in the workload's namespace applies when it has no selector or
 *   its selector matches the workload's labels;
 * - a policy in the root namespace applies to every workload of the mesh when
 *   it has no selector, and, when it has one, to the workloads of every
 *   namespace whose labels match ("If the authorization policy is in the root
 *   namespace, the selector will additionally match with workloads in all
 *   namespaces", Istio's AuthorizationPolicy reference).
 */
export function appliesTo(
  policy: AuthorizationPolicyModel,
  rootNamespace: string,
  workload: WorkloadRef,
): boolean {
  const namespace = policy.source.namespace;
  if (namespace !== workload.namespace && namespace !== rootNamespace) return false;
  return policy.scope.kind !== "Workload" || labelsInclude(workload.labels, policy.scope.matchLabels);
}

/**
 * Istio's authorization decision for one request to one workload:
 *
 * 1. any matching DENY policy denies;
 * 2. with no ALLOW policy applying to the workload, the request is allowed;
 * 3. a matching ALLOW policy allows;
 * 4. otherwise the request is denied.
 *
 * AUDIT policies only add to `audited`. The deciding rule is the first
 * matching one in the order of the RBAC policy names `namespace/name/index`
 * (string order): Envoy keeps RBAC policies in a std::map and reports the
 * first that matched as the effective policy.
 */
export function authorize(
  policies: readonly AuthorizationPolicyModel[],
  rootNamespace: string,
  workload: WorkloadRef,
  request: AuthorizationRequest,
): AuthorizationDecision {
  const applicable = policies.filter((p) => appliesTo(p, rootNamespace, workload));
  const matching = (action: AuthorizationAction) =>
    applicable
      .filter((p) => p.action === action)
      .flatMap((p) => matchingRules(p, request).map((rule) => ({ policy: p, rule })))
      .map((m) => ({ ...m, id: `${m.policy.source.namespace}/${m.policy.source.name}/${m.rule}` }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const audited = matching("AUDIT").map((m) => m.id);
  const name = (p: AuthorizationPolicyModel) => `${p.source.namespace}/${p.source.name}`;

  const deny = matching("DENY")[0];
  if (deny)
    return {
      decision: "DENY",
      policy: name(deny.policy),
      rule: deny.rule,
      reason: `denied by DENY policy ${name(deny.policy)}, rule ${deny.rule}`,
      audited,
    };
  const allowPolicies = applicable.filter((p) => p.action === "ALLOW");
  if (allowPolicies.length === 0)
    return {
      decision: "ALLOW",
      policy: null,
      rule: null,
      reason: "no ALLOW policy applies to the workload, so the request is allowed",
      audited,
    };
  const allow = matching("ALLOW")[0];
  if (allow)
    return {
      decision: "ALLOW",
      policy: name(allow.policy),
      rule: allow.rule,
      reason: `allowed by ALLOW policy ${name(allow.policy)}, rule ${allow.rule}`,
      audited,
    };
  const names = allowPolicies.map(name).sort();
  return {
    decision: "DENY",
    policy: null,
    rule: null,
    reason: `no ALLOW policy matches the request, and ${names.length === 1 ? "one applies" : `${names.length} apply`} to the workload (${names.join(", ")})`,
    audited,
  };
}

/** The indexes of the policy's rules that match the request, in order. */
export function matchingRules(policy: AuthorizationPolicyModel, request: AuthorizationRequest): number[] {
  if (policy.rules.kind === "MatchNothing") return [];
  return policy.rules.rules.filter((r) => ruleMatches(r, policy.action, request)).map((r) => r.index);
}

/**
 * Whether one rule matches: one source, one operation and every condition.
 *
 * On TCP traffic HTTP attributes do not exist. Istio then drops an ALLOW rule
 * that uses any HTTP-only field (hosts, methods, paths, request headers, and
 * their negations), so it never matches; for DENY and AUDIT it leaves those
 * fields out, so the rest of the rule decides (authorization_policy.proto:
 * "For a DENY rule, missing attributes are treated as matches").
 */
export function ruleMatches(
  rule: AuthorizationRuleModel,
  action: AuthorizationAction,
  request: AuthorizationRequest,
): boolean {
  const tcp = request.protocol === "TCP";
  if (tcp && action === "ALLOW" && usesHttpOnly(rule)) return false;
  const from = rule.from.length === 0 || rule.from.some((s) => sourceMatches(s, request));
  const to = rule.to.length === 0 || rule.to.some((o) => operationMatches(o, request, tcp));
  const when = rule.when.every((c) => (tcp && c.kind === "RequestHeader") || conditionHolds(c, request));
  return from && to && when;
}

/**
 * Whether a rule uses a field that only HTTP has (hosts, methods, paths and
 * their negations, request headers): the rule ruleMatches, translate and
 * compile's warnings treat differently on TCP.
 */
export function usesHttpOnly(rule: AuthorizationRuleModel): boolean {
  return (
    rule.to.some(
      (o) =>
        o.hosts !== undefined ||
        o.notHosts !== undefined ||
        o.methods !== undefined ||
        o.notMethods !== undefined ||
        o.paths !== undefined ||
        o.notPaths !== undefined,
    ) || rule.when.some((c) => c.kind === "RequestHeader")
  );
}

/** The namespace in a principal `<td>/ns/<ns>/sa/<sa>`, as Istio's `.*\/ns/<ns>/.*` regex reads it. */
function namespaceOf(principal: string | undefined): string | undefined {
  if (principal === undefined) return undefined;
  return /\/ns\/([^/]*)\//.exec(principal)?.[1];
}

function sourceMatches(s: SourceModel, r: AuthorizationRequest): boolean {
  const principal = r.principal;
  const namespace = namespaceOf(principal);
  return (
    valuesHold(s.principals, s.notPrincipals, (p) => matchesPattern(p, principal)) &&
    valuesHold(s.namespaces, s.notNamespaces, (p) => matchesPattern(p, namespace)) &&
    valuesHold(s.ipBlocks, s.notIpBlocks, (c) => cidrContains(c, r.sourceIp))
  );
}

function header(r: AuthorizationRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(r.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

function host(r: AuthorizationRequest): string | undefined {
  return r.host ?? header(r, ":authority") ?? header(r, "host");
}

/**
 * A `request.headers[<name>]` condition's value as Envoy's header map holds
 * it: `host` and `:authority` are one header there, and `:method` and
 * `:path` (query string included) are the request's own.
 */
function conditionHeader(r: AuthorizationRequest, name: string): string | undefined {
  switch (name.toLowerCase()) {
    case "host":
    case ":authority":
      return host(r);
    case ":method":
      return r.method ?? header(r, ":method");
    case ":path":
      return r.path ?? header(r, ":path");
    default:
      return header(r, name);
  }
}

/** Envoy's url_path: the path without query string or fragment. */
function urlPath(path: string | undefined): string | undefined {
  return path?.split(/[?#]/, 1)[0];
}

function operationMatches(o: OperationModel, r: AuthorizationRequest, tcp: boolean): boolean {
  const ports = valuesHold(o.ports, o.notPorts, (p) => p === r.port);
  if (tcp) return ports;
  const headerLike = { presentMatchesEmpty: true };
  return (
    ports &&
    valuesHold(o.hosts, o.notHosts, (p) => matchesPattern(p, host(r), { ...headerLike, ignoreCase: true })) &&
    valuesHold(o.methods, o.notMethods, (p) => matchesPattern(p, r.method, headerLike)) &&
    valuesHold(o.paths, o.notPaths, (p) => matchesPattern(p, urlPath(r.path)))
  );
}

function conditionHolds(c: ConditionModel, r: AuthorizationRequest): boolean {
  switch (c.kind) {
    case "RequestHeader": {
      const value = conditionHeader(r, c.name);
      return valuesHold(c.values, c.notValues, (p) =>
        matchesPattern(p, value, { presentMatchesEmpty: true }),
      );
    }
    case "SourceIp":
      return valuesHold(c.values, c.notValues, (cidr) => cidrContains(cidr, r.sourceIp));
    case "RemoteIp":
      return valuesHold(c.values, c.notValues, (cidr) => cidrContains(cidr, r.remoteIp ?? r.sourceIp));
    case "DestinationIp":
      return valuesHold(c.values, c.notValues, (cidr) => cidrContains(cidr, r.destinationIp));
    case "SourcePrincipal":
      return valuesHold(c.values, c.notValues, (p) => matchesPattern(p, r.principal));
    case "SourceNamespace":
      return valuesHold(c.values, c.notValues, (p) => matchesPattern(p, namespaceOf(r.principal)));
    case "ConnectionSni":
      return valuesHold(c.values, c.notValues, (p) => matchesPattern(p, r.sni));
    case "DestinationPort":
      return valuesHold(c.values, c.notValues, (p) => p === r.port);
  }
}
