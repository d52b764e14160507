import { addressBits, parseIp } from "../net/ip.js";
import type {
  AuthorizationPolicy,
  Operation,
  Rule,
  RuleCondition,
  Source,
} from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { PolicySource } from "../ir/source.js";
import type {
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  CidrModel,
  ConditionModel,
  MtlsMode,
  OperationModel,
  PeerAuthenticationModel,
  PolicyScope,
  SourceModel,
  ValuePattern,
} from "../ir/security.js";
import { defined, definedLabels } from "./defined.js";

/**
 * PeerAuthentication and AuthorizationPolicy objects as the security model.
 * Pure; the objects must be valid (see security-issues.ts).
 */

/** One PeerAuthentication as the model; the object must be valid (see {@link peerAuthenticationIssues}). */
export function peerAuthenticationModel(
  pa: PeerAuthentication,
  rootNamespace: string,
): PeerAuthenticationModel {
  const portLevel: Record<string, MtlsMode> = {};
  for (const [port, setting] of Object.entries(pa.spec.portLevelMtls ?? {}).sort(
    ([a], [b]) => Number(a) - Number(b),
  )) {
    portLevel[String(Number(port))] = setting?.mode ?? "UNSET";
  }
  return {
    source: sourceOf(pa),
    created: pa.metadata.creationTimestamp ?? "",
    scope: scopeOf(pa.spec.selector, pa.metadata.namespace ?? "", rootNamespace),
    mode: pa.spec.mtls?.mode ?? "UNSET",
    portLevel,
  };
}

/** One AuthorizationPolicy as the model; the object must be valid (see {@link authorizationPolicyIssues}). */
export function authorizationPolicyModel(
  ap: AuthorizationPolicy,
  rootNamespace: string,
): AuthorizationPolicyModel {
  const spec = ap.spec ?? {};
  const rules = spec.rules ?? [];
  return {
    source: sourceOf(ap),
    action: spec.action ?? "ALLOW",
    scope: scopeOf(spec.selector, ap.metadata.namespace ?? "", rootNamespace),
    rules: rules.length === 0 ? { kind: "MatchNothing" } : { kind: "Rules", rules: rules.map(ruleModel) },
  };
}

function ruleModel(rule: Rule, index: number): AuthorizationRuleModel {
  return {
    index,
    from: (rule.from ?? []).map((f) => sourceModel(f.source)),
    to: (rule.to ?? []).map((t) => operationModel(t.operation)),
    when: (rule.when ?? []).map(conditionModel),
  };
}

function sourceModel(s: Source): SourceModel {
  return defined({
    principals: patterns(s.principals),
    notPrincipals: patterns(s.notPrincipals),
    namespaces: patterns(s.namespaces),
    notNamespaces: patterns(s.notNamespaces),
    ipBlocks: cidrs(s.ipBlocks),
    notIpBlocks: cidrs(s.notIpBlocks),
  });
}

function operationModel(o: Operation): OperationModel {
  return defined({
    hosts: patterns(o.hosts),
    notHosts: patterns(o.notHosts),
    ports: ports(o.ports),
    notPorts: ports(o.notPorts),
    methods: patterns(o.methods),
    notMethods: patterns(o.notMethods),
    paths: patterns(o.paths),
    notPaths: patterns(o.notPaths),
  });
}

export const HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;

export const CONDITION_KINDS: Record<string, ConditionModel["kind"]> = {
  "source.ip": "SourceIp",
  "remote.ip": "RemoteIp",
  "destination.ip": "DestinationIp",
  "source.namespace": "SourceNamespace",
  "source.principal": "SourcePrincipal",
  "connection.sni": "ConnectionSni",
  "destination.port": "DestinationPort",
};

function conditionModel(c: RuleCondition): ConditionModel {
  const header = HEADER_KEY.exec(c.key);
  if (header)
    return defined({
      kind: "RequestHeader" as const,
      name: header[1]!.toLowerCase(),
      values: patterns(c.values),
      notValues: patterns(c.notValues),
    });
  const kind = CONDITION_KINDS[c.key];
  switch (kind) {
    case "SourceIp":
    case "RemoteIp":
    case "DestinationIp":
      return defined({ kind, values: cidrs(c.values), notValues: cidrs(c.notValues) });
    case "DestinationPort":
      return defined({ kind, values: ports(c.values), notValues: ports(c.notValues) });
    case "SourceNamespace":
    case "SourcePrincipal":
    case "ConnectionSni":
      return defined({ kind, values: patterns(c.values), notValues: patterns(c.notValues) });
    default:
      throw new Error(`unsupported condition key ${c.key}`);
  }
}

/** Istio's value syntax: `*`, `prefix*`, `*suffix` or an exact value. */
export function parsePattern(value: string): ValuePattern {
  if (value === "*") return { kind: "Present" };
  if (value.startsWith("*")) return { kind: "Suffix", suffix: value.slice(1) };
  if (value.endsWith("*")) return { kind: "Prefix", prefix: value.slice(0, -1) };
  return { kind: "Exact", value };
}

/** An ipBlocks value: an IP address or a CIDR, as written; undefined when it is neither. */
export function parseIpBlock(value: string): CidrModel | undefined {
  const [address = "", length, ...rest] = value.split("/");
  const ip = parseIp(address);
  if (!ip || rest.length > 0) return undefined;
  const max = addressBits(ip.family);
  if (length === undefined) return { address, prefixLength: max };
  if (!/^(0|[1-9][0-9]{0,2})$/.test(length) || Number(length) > max) return undefined;
  return { address, prefixLength: Number(length) };
}

/** A port number from 1 to 65535; undefined otherwise. */
export function parsePort(value: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

const patterns = (values: string[] | undefined) => values?.map(parsePattern);
const cidrs = (values: string[] | undefined) =>
  values?.map(parseIpBlock).filter((c): c is CidrModel => c !== undefined);
const ports = (values: string[] | undefined) =>
  values?.map(parsePort).filter((p): p is number => p !== undefined);

function scopeOf(
  selector: { matchLabels: Record<string, string | undefined> } | undefined,
  namespace: string,
  rootNamespace: string,
): PolicyScope {
  const matchLabels = definedLabels(selector?.matchLabels);
  // As Istio: an empty matchLabels is no selector.
  if (Object.keys(matchLabels).length > 0) return { kind: "Workload", matchLabels };
  return namespace === rootNamespace ? { kind: "Mesh" } : { kind: "Namespace" };
}

export function sourceOf(obj: {
  metadata: { namespace?: string; name?: string; generation?: number };
}): PolicySource {
  return {
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? "",
    generation: obj.metadata.generation ?? 0,
  };
}
