import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type {
  AuthorizationAction,
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  CidrModel,
  ConditionModel,
  OperationModel,
  SourceModel,
  ValuePattern,
} from "../../ir/security.js";
import { addressBits, formatIpValue, parseIp } from "../../net/ip.js";
import { usesHttpOnly } from "../../policy/authorization.js";
import { typed } from "./json.js";

/**
 * AuthorizationPolicies to Envoy RBAC filters, as Istio generates them
 * (pilot/pkg/security/authz/model), so that Envoy decides exactly what
 * `src/policy/authorization.ts` decides.
 *
 * - One RBAC policy per rule, keyed `namespace/name/index` (API.md), sorted.
 *   Its `principals` hold one `and_ids` per `from` entry, its `permissions`
 *   one `and_rules` per `to` entry; `when` conditions are ANDed into every
 *   entry on the side Istio puts them (source.*, remote.ip and request
 *   headers on principals; destination.*, connection.sni on permissions).
 * - Values of one field are an `or_ids`/`or_rules`; `not*` fields and
 *   `notValues` are `not_id`/`not_rule` around that OR, as Istio writes them.
 * - Filters, in order: AUDIT (if any AUDIT policy applies), DENY (if any DENY
 *   policy applies), ALLOW (if any ALLOW policy applies). An ALLOW policy
 *   without rules contributes no RBAC policy, so an ALLOW filter whose
 *   policies are all empty denies everything, as the evaluator decides.
 * - Each filter's name ends in its action (`envoy.filters.http.rbac.deny`):
 *   Envoy picks the filter by its typed_config and does not mind, while
 *   proxyless gRPC NACKs an HTTP connection manager with two filters of one
 *   name.
 * - AUDIT is a filter of its own, first so that it sees requests a later
 *   filter denies: `shadow_rules` with action LOG (Envoy sets the
 *   access-log hint and never enforces shadow rules), plus enforcing `rules`
 *   that are an empty DENY (they match nothing, so they allow everything).
 *   Those empty rules keep the filter loadable by proxyless gRPC, which
 *   rejects an RBAC filter without `rules` and any enforcing LOG action.
 * - Attribution: DENY and ALLOW HTTP filters carry a rules_stat_prefix
 *   (`skiff_deny_`, `skiff_allow_`), so their statistics and dynamic metadata
 *   (`skiff_allow_enforced_effective_policy_id`) say which filter, and which
 *   rule, decided; a denial's response details name the rule
 *   (`rbac_access_denied_matched_policy[ns/name/index]`). The network ALLOW
 *   filter repeats its rules as shadow rules (see `attribution`).
 * - TCP (network filters, stat_prefix `tcp.`): an ALLOW rule that uses an
 *   HTTP-only field (hosts, methods, paths, their negations, request headers)
 *   is dropped, so it never matches; a DENY or AUDIT rule leaves those fields
 *   out. This is Istio's behaviour and the evaluator's.
 * - Fail closed: a rule that cannot be translated (an unparsable address, a
 *   port outside 1-65535, an empty header name) is dropped from an ALLOW
 *   policy (it never allows) and becomes match-everything in a DENY or AUDIT
 *   policy (it denies every request). Istio instead drops only the bad value
 *   from a DENY rule, which can make the rule narrower than written.
 * - Regex metacharacters in values are escaped, so a value is always literal
 *   (Istio pastes suffixes and namespaces into regexes unescaped, where `.`
 *   in `cluster.local` matches any character); the evaluator reads them literally.
 * - `*` in `namespaces` is `.+` (a non-empty namespace), which is Istio's
 *   `.*` for every principal a Kubernetes ServiceAccount can have.
 * - `trustDomain` is not part of any matcher: like Istio's and the
 *   evaluator's, namespace matching accepts any trust domain, and principals
 *   are matched as written.
 */
export interface RbacOptions {
  readonly trustDomain: string;
  readonly protocol: "HTTP" | "TCP";
}

export const HTTP_RBAC_FILTER = "envoy.filters.http.rbac";
export const NETWORK_RBAC_FILTER = "envoy.filters.network.rbac";
export const HTTP_RBAC_TYPE = "envoy.extensions.filters.http.rbac.v3.RBAC";
export const NETWORK_RBAC_TYPE = "envoy.extensions.filters.network.rbac.v3.RBAC";
/** Istio's stat prefix for network RBAC filters. */
export const TCP_STAT_PREFIX = "tcp.";
/** Prefix of the shadow-rule statistics (and dynamic metadata keys) of the AUDIT filter. */
export const AUDIT_STAT_PREFIX = "skiff_audit_";
/**
 * Prefixes of the enforced rules' statistics and dynamic metadata keys of
 * the DENY and ALLOW filters. Envoy writes every RBAC filter's metadata
 * under one namespace (`envoy.filters.http.rbac`), so without them the
 * filters' `enforced_effective_policy_id` overwrite each other.
 */
export const RULES_STAT_PREFIX: Record<"DENY" | "ALLOW", string> = {
  DENY: "skiff_deny_",
  ALLOW: "skiff_allow_",
};

const SPIFFE = "spiffe://";

/** The RBAC filters for the policies that apply to one workload, in filter-chain order. */
export function rbacFilters(
  policies: readonly AuthorizationPolicyModel[],
  options: RbacOptions,
): JsonObject[] {
  const tcp = options.protocol === "TCP";
  const of = (action: AuthorizationAction) => policies.filter((p) => p.action === action);
  const filters: JsonObject[] = [];
  const audit = of("AUDIT");
  if (audit.length > 0)
    filters.push(
      filter(tcp, "AUDIT", {
        rules: { action: "DENY", policies: {} },
        shadow_rules: { action: "LOG", policies: rbacPolicies(audit, tcp) },
        shadow_rules_stat_prefix: AUDIT_STAT_PREFIX,
      }),
    );
  for (const action of ["DENY", "ALLOW"] as const) {
    const applying = of(action);
    if (applying.length > 0) {
      const policies = rbacPolicies(applying, tcp);
      filters.push(
        filter(tcp, action, { rules: { action, policies }, ...attribution(tcp, action, policies) }),
      );
    }
  }
  return filters;
}

/**
 * What makes a DENY or ALLOW filter name its deciding rule in statistics and
 * dynamic metadata (so in access logs). HTTP: a rules_stat_prefix per
 * action, without which the filters' `enforced_effective_policy_id` keys
 * overwrite each other in the one `envoy.filters.http.rbac` namespace. The
 * network filter has no rules_stat_prefix and writes no enforced metadata
 * at all (Envoy 1.40); a denied connection's termination details name the
 * rule, and for an allowed one the ALLOW rules again, in shadow mode, name
 * the first that matched (`skiff_allow_shadow_effective_policy_id`).
 */
function attribution(tcp: boolean, action: "DENY" | "ALLOW", policies: JsonObject): JsonObject {
  if (!tcp) return { rules_stat_prefix: RULES_STAT_PREFIX[action] };
  if (action === "DENY") return {};
  return { shadow_rules: { action, policies }, shadow_rules_stat_prefix: RULES_STAT_PREFIX[action] };
}

function filter(tcp: boolean, action: AuthorizationAction, body: JsonObject): JsonObject {
  const suffix = `.${action.toLowerCase()}`;
  return tcp
    ? {
        name: NETWORK_RBAC_FILTER + suffix,
        typed_config: typed(NETWORK_RBAC_TYPE, { stat_prefix: TCP_STAT_PREFIX, ...body }),
      }
    : { name: HTTP_RBAC_FILTER + suffix, typed_config: typed(HTTP_RBAC_TYPE, body) };
}

/** The RBAC policies of policies of one action, keyed `namespace/name/index`, sorted by key. */
function rbacPolicies(policies: readonly AuthorizationPolicyModel[], tcp: boolean): JsonObject {
  const entries: [string, JsonObject][] = [];
  for (const policy of policies) {
    if (policy.rules.kind === "MatchNothing") continue;
    for (const rule of policy.rules.rules) {
      const translated = rbacPolicy(rule, policy.action, tcp);
      if (translated)
        entries.push([`${policy.source.namespace}/${policy.source.name}/${rule.index}`, translated]);
    }
  }
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

/** Raised for what has no faithful translation; the rule then fails closed. */
class Untranslatable extends Error {}

/** A fresh object each time, so that YAML renderings carry no aliases. */
const any = (): JsonObject => ({ any: true });

/** One rule as an RBAC policy; undefined when it must never match (a dropped ALLOW rule). */
export function rbacPolicy(
  rule: AuthorizationRuleModel,
  action: AuthorizationAction,
  tcp: boolean,
): JsonObject | undefined {
  if (tcp && action === "ALLOW" && usesHttpOnly(rule)) return undefined;
  try {
    const conditions = rule.when.filter((c) => !(tcp && c.kind === "RequestHeader"));
    const whenIds = conditions.flatMap(conditionIds);
    const whenRules = conditions.flatMap(conditionRules);
    const principals = (rule.from.length === 0 ? [undefined] : rule.from).map((s) => ({
      and_ids: { ids: nonEmpty([...(s ? sourceIds(s) : []), ...whenIds]) },
    }));
    const permissions = (rule.to.length === 0 ? [undefined] : rule.to).map((o) => ({
      and_rules: { rules: nonEmpty([...(o ? operationRules(o, tcp) : []), ...whenRules]) },
    }));
    return { permissions, principals };
  } catch (e) {
    if (!(e instanceof Untranslatable)) throw e;
    return action === "ALLOW" ? undefined : { permissions: [any()], principals: [any()] };
  }
}

const nonEmpty = (list: JsonObject[]): JsonObject[] => (list.length > 0 ? list : [any()]);

// --- Values and negations ----------------------------------------------------

/**
 * `values` as an OR and `notValues` as NOT(OR), each only when given. An
 * empty `values` list matches nothing, as in the evaluator (the schema
 * never lets one through).
 */
function field<T>(
  values: readonly T[] | undefined,
  notValues: readonly T[] | undefined,
  one: (value: T) => JsonObject,
  or: "or_ids" | "or_rules",
): JsonObject[] {
  const not = or === "or_ids" ? "not_id" : "not_rule";
  const orList = (list: readonly T[]): JsonObject =>
    or === "or_ids" ? { or_ids: { ids: list.map(one) } } : { or_rules: { rules: list.map(one) } };
  const out: JsonObject[] = [];
  if (values !== undefined) out.push(values.length > 0 ? orList(values) : { [not]: any() });
  if (notValues !== undefined && notValues.length > 0) out.push({ [not]: orList(notValues) });
  return out;
}

function sourceIds(s: SourceModel): JsonObject[] {
  return [
    ...field(s.principals, s.notPrincipals, principalId, "or_ids"),
    ...field(s.namespaces, s.notNamespaces, namespaceId, "or_ids"),
    ...field(s.ipBlocks, s.notIpBlocks, (c) => ({ direct_remote_ip: cidrRange(c) }), "or_ids"),
  ];
}

function operationRules(o: OperationModel, tcp: boolean): JsonObject[] {
  const ports = field(o.ports, o.notPorts, (p) => ({ destination_port: port(p) }), "or_rules");
  if (tcp) return ports;
  return [
    ...field(o.hosts, o.notHosts, (p) => ({ header: headerMatcher(":authority", p, true) }), "or_rules"),
    ...field(o.methods, o.notMethods, (p) => ({ header: headerMatcher(":method", p, false) }), "or_rules"),
    ...field(o.paths, o.notPaths, (p) => ({ url_path: { path: stringMatcher(p) } }), "or_rules"),
    ...ports,
  ];
}

/** The principal side of a `when` condition; empty for the permission side. */
function conditionIds(c: ConditionModel): JsonObject[] {
  switch (c.kind) {
    case "RequestHeader":
      return field(c.values, c.notValues, (p) => ({ header: headerMatcher(c.name, p, false) }), "or_ids");
    case "SourceIp":
      return field(c.values, c.notValues, (cidr) => ({ direct_remote_ip: cidrRange(cidr) }), "or_ids");
    case "RemoteIp":
      return field(c.values, c.notValues, (cidr) => ({ remote_ip: cidrRange(cidr) }), "or_ids");
    case "SourceNamespace":
      return field(c.values, c.notValues, namespaceId, "or_ids");
    case "SourcePrincipal":
      return field(c.values, c.notValues, principalId, "or_ids");
    case "DestinationIp":
    case "DestinationPort":
    case "ConnectionSni":
      return [];
  }
}

/** The permission side of a `when` condition; empty for the principal side. */
function conditionRules(c: ConditionModel): JsonObject[] {
  switch (c.kind) {
    case "DestinationIp":
      return field(c.values, c.notValues, (cidr) => ({ destination_ip: cidrRange(cidr) }), "or_rules");
    case "DestinationPort":
      return field(c.values, c.notValues, (p) => ({ destination_port: port(p) }), "or_rules");
    case "ConnectionSni":
      return field(c.values, c.notValues, (p) => ({ requested_server_name: stringMatcher(p) }), "or_rules");
    default:
      return [];
  }
}

// --- Matchers ----------------------------------------------------------------

/** RE2 source that matches `text` literally. */
export function literal(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, "\\$&");
}

const regex = (re: string): JsonObject => ({ safe_regex: { regex: re } });

/**
 * A StringMatcher as Istio's StringMatcher: `*` is `.+` (non-empty). Envoy
 * refuses an empty prefix or suffix, which means "any value" here.
 */
function stringMatcher(p: ValuePattern, ignoreCase = false): JsonObject {
  const withCase = (m: JsonObject): JsonObject => (ignoreCase ? { ...m, ignore_case: true } : m);
  switch (p.kind) {
    case "Present":
      return regex(".+");
    case "Exact":
      return withCase({ exact: p.value });
    case "Prefix":
      return p.prefix === "" ? regex(".*") : withCase({ prefix: p.prefix });
    case "Suffix":
      return p.suffix === "" ? regex(".*") : withCase({ suffix: p.suffix });
  }
}

/** Istio's HeaderMatcher (HostMatcher with ignoreCase): `*` is present_match, which accepts an empty value. */
function headerMatcher(name: string, p: ValuePattern, ignoreCase: boolean): JsonObject {
  if (name === "") throw new Untranslatable("empty header name");
  if (p.kind === "Present") return { name, present_match: true };
  return { name, string_match: stringMatcher(p, ignoreCase) };
}

/** source.principal against the peer certificate's SPIFFE URI, as Istio's StringMatcherWithPrefix. */
function principalId(p: ValuePattern): JsonObject {
  let name: JsonObject;
  switch (p.kind) {
    case "Present":
      name = regex(".+");
      break;
    case "Exact":
      name = { exact: `${SPIFFE}${p.value}` };
      break;
    case "Prefix":
      name = { prefix: `${SPIFFE}${p.prefix}` };
      break;
    case "Suffix":
      name = regex(`${literal(SPIFFE)}.*${literal(p.suffix)}`);
      break;
  }
  return { authenticated: { principal_name: name } };
}

/** source.namespace as Istio's `.*\/ns/<ns>/.*` regex over the SPIFFE URI. */
function namespaceId(p: ValuePattern): JsonObject {
  const ns =
    p.kind === "Present"
      ? ".+"
      : p.kind === "Exact"
        ? literal(p.value)
        : p.kind === "Prefix"
          ? `${literal(p.prefix)}.*`
          : `.*${literal(p.suffix)}`;
  return { authenticated: { principal_name: regex(`.*/ns/${ns}/.*`) } };
}

/** A CidrRange with the host bits cleared, as Envoy normalises it (gRPC's engine needs it so). */
function cidrRange(c: CidrModel): JsonObject {
  const ip = parseIp(c.address);
  const bits = ip ? addressBits(ip.family) : 128;
  if (!ip || !Number.isInteger(c.prefixLength) || c.prefixLength < 0 || c.prefixLength > bits)
    throw new Untranslatable(`bad address ${c.address}/${c.prefixLength}`);
  const shift = BigInt(bits - c.prefixLength);
  const network = (ip.value >> shift) << shift;
  return { address_prefix: formatIpValue(ip.family, network), prefix_len: c.prefixLength };
}

function port(p: number): JsonValue {
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Untranslatable(`bad port ${p}`);
  return p;
}
