import { CONDITION_KEYS } from "../api/v1alpha1/authorizationpolicy.js";
import { isIP } from "node:net";
import type { IPod } from "kubernetes-models/v1";
import type {
  AuthorizationPolicy,
  Operation,
  Rule,
  RuleCondition,
  Source,
} from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import type { PolicySource } from "../ir/model.js";
import type {
  AuthorizationPolicyModel,
  AuthorizationRuleModel,
  CidrModel,
  ConditionModel,
  EffectiveMtlsMode,
  Labels,
  MtlsMode,
  OperationModel,
  PeerAuthenticationModel,
  PolicyScope,
  SecurityModel,
  SourceModel,
  ValuePattern,
} from "../ir/security.js";
import { appliesTo } from "../policy/authorization.js";
import { labelsInclude } from "../policy/match.js";
import { effectiveMtls } from "../policy/mtls.js";
import type { PolicyFinding } from "./findings.js";
import { byNamespacedName } from "./services.js";

/** The Mesh's defaults, as its CRD schema fills them in. */
export const DEFAULT_TRUST_DOMAIN = "cluster.local";
export const DEFAULT_ROOT_NAMESPACE = "skiff-system";
export const DEFAULT_MTLS_MODE: EffectiveMtlsMode = "PERMISSIVE";

/** A finding that does not make the policy invalid but that its author should see. */
export interface SecurityWarning {
  /**
   * - `PrincipalsWithoutMtls`: principals or namespaces can never match, because
   *   the workload accepts only plaintext and plaintext carries no identity.
   * - `NotPrincipalsWithoutMtls`: notPrincipals or notNamespaces match every
   *   request, for the same reason.
   */
  readonly reason: "PrincipalsWithoutMtls" | "NotPrincipalsWithoutMtls";
  /** The index of the rule in spec.rules. */
  readonly rule: number;
  readonly message: string;
}

export interface SecurityPolicyFindings {
  readonly kind: "PeerAuthentication" | "AuthorizationPolicy";
  readonly source: PolicySource;
  /** The `Accepted` condition. */
  readonly findings: readonly PolicyFinding[];
  /** Problems that do not make the policy invalid; AuthorizationPolicies only. */
  readonly warnings: readonly SecurityWarning[];
}

/** The objects that security compile reads. */
export interface SecurityState {
  readonly mesh?: Mesh;
  readonly peerAuthentications: readonly PeerAuthentication[];
  readonly authorizationPolicies: readonly AuthorizationPolicy[];
  /** When given, findings name conflicts between selectors and the mTLS warnings of AuthorizationPolicies. */
  readonly pods?: readonly IPod[];
}

export interface SecurityCompileResult {
  readonly model: SecurityModel;
  /** One entry per PeerAuthentication and AuthorizationPolicy, sorted by kind, namespace and name. */
  readonly findings: readonly SecurityPolicyFindings[];
}

/**
 * PeerAuthentications and AuthorizationPolicies to the security model, with
 * each policy's findings. Pure.
 *
 * - Invalid policies (what the API server's CEL rules would refuse, checked
 *   here because offline input never met them) are Accepted=False/Invalid and
 *   left out of the model.
 * - PeerAuthentications that tie at one level are Accepted=False/Conflicted:
 *   the oldest wins, ties broken by name. They stay in the model, because a
 *   selector conflict is per workload and the evaluator resolves it the same way.
 * - A PeerAuthentication with a selector in the root namespace is
 *   Accepted=False/SelectorInRootNamespace: Istio ignores it, and so do we.
 */
export function compileSecurity(state: SecurityState): SecurityCompileResult {
  const settings = meshSecurity(state.mesh);
  const root = settings.rootNamespace;
  const pods = state.pods ?? [];

  const paFindings: SecurityPolicyFindings[] = [];
  const peerAuthentications: PeerAuthenticationModel[] = [];
  for (const pa of state.peerAuthentications) {
    const issues = peerAuthenticationIssues(pa);
    if (issues.length > 0) {
      paFindings.push(entry("PeerAuthentication", sourceOf(pa), invalid(issues), []));
      continue;
    }
    peerAuthentications.push(peerAuthenticationModel(pa, root));
  }
  const conflicts = peerAuthenticationConflicts(peerAuthentications, root, pods);
  for (const pa of peerAuthentications) {
    const key = `${pa.source.namespace}/${pa.source.name}`;
    const accepted =
      pa.scope.kind === "Workload" && pa.source.namespace === root
        ? {
            type: "Accepted" as const,
            status: "False" as const,
            reason: "SelectorInRootNamespace",
            message: `A PeerAuthentication with a selector in the root namespace ${root} is ignored, as in Istio. Move it to the workloads' namespace, or drop the selector to set the mesh-wide mode.`,
          }
        : (conflicts.get(key) ?? {
            type: "Accepted" as const,
            status: "True" as const,
            reason: "Accepted",
            message: "The policy is valid.",
          });
    paFindings.push(entry("PeerAuthentication", pa.source, accepted, []));
  }

  const apFindings: SecurityPolicyFindings[] = [];
  const authorizationPolicies: AuthorizationPolicyModel[] = [];
  for (const ap of state.authorizationPolicies) {
    const issues = authorizationPolicyIssues(ap);
    if (issues.length > 0) {
      apFindings.push(entry("AuthorizationPolicy", sourceOf(ap), invalid(issues), []));
      continue;
    }
    const model = authorizationPolicyModel(ap, root);
    authorizationPolicies.push(model);
    apFindings.push(
      entry(
        "AuthorizationPolicy",
        model.source,
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          message: "The policy is valid.",
        },
        podWarnings(model, peerAuthentications, settings, pods),
      ),
    );
  }

  const bySource = (a: { source: PolicySource }, b: { source: PolicySource }) =>
    byNamespacedName(a.source, b.source);
  return {
    model: {
      ...settings,
      peerAuthentications: peerAuthentications.sort(bySource),
      authorizationPolicies: authorizationPolicies.sort(bySource),
    },
    findings: [...apFindings.sort(bySource), ...paFindings.sort(bySource)],
  };
}

/** The Mesh's security settings, with the CRD's defaults for what it leaves out. */
export function meshSecurity(
  mesh: Mesh | undefined,
): Pick<SecurityModel, "trustDomain" | "rootNamespace" | "defaultMtlsMode"> {
  return {
    trustDomain: mesh?.spec?.trustDomain || DEFAULT_TRUST_DOMAIN,
    rootNamespace: mesh?.spec?.rootNamespace || DEFAULT_ROOT_NAMESPACE,
    defaultMtlsMode: mesh?.spec?.defaults?.mtlsMode ?? DEFAULT_MTLS_MODE,
  };
}

// --- Models ------------------------------------------------------------------

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

const HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;

const CONDITION_KINDS: Record<string, ConditionModel["kind"]> = {
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

/** An IP address or CIDR; undefined when it is neither. */
export function parseCidr(value: string): CidrModel | undefined {
  const [address = "", length, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (length === undefined) return { address, prefixLength: max };
  if (!/^[0-9]{1,3}$/.test(length) || Number(length) > max) return undefined;
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
  values?.map(parseCidr).filter((c): c is CidrModel => c !== undefined);
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

// --- What the API server's CEL rules check -----------------------------------

/**
 * The checks that the CRD makes with CEL rules, which offline validation
 * (Ajv) cannot run, plus the condition values that Istio would reject when it
 * generates Envoy config. Fields are named as the API server names them.
 */
export function securityIssues(obj: { kind?: string }): ValidationIssue[] {
  if (obj.kind === "AuthorizationPolicy") return authorizationPolicyIssues(obj as AuthorizationPolicy);
  if (obj.kind === "PeerAuthentication") return peerAuthenticationIssues(obj as PeerAuthentication);
  return [];
}

const IP_MESSAGE = "must be an IP address such as 10.1.2.3 or a CIDR such as 10.0.0.0/16";
const PORT_MESSAGE = "must be a port number from 1 to 65535";

export function authorizationPolicyIssues(ap: AuthorizationPolicy): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const each = (values: string[] | undefined, field: string, ok: (v: string) => boolean, message: string) =>
    values?.forEach((v, i) => {
      if (!ok(v)) issues.push({ field: `${field}[${i}]`, message });
    });
  const isCidr = (v: string) => parseCidr(v) !== undefined;
  const isPort = (v: string) => parsePort(v) !== undefined;

  (ap.spec?.rules ?? []).forEach((rule, r) => {
    const at = `spec.rules[${r}]`;
    (rule.from ?? []).forEach(({ source }, f) => {
      const field = `${at}.from[${f}].source`;
      if (Object.values(source ?? {}).every((v) => v === undefined))
        issues.push({ field, message: "a source must set at least one field" });
      each(source?.ipBlocks, `${field}.ipBlocks`, isCidr, IP_MESSAGE);
      each(source?.notIpBlocks, `${field}.notIpBlocks`, isCidr, IP_MESSAGE);
    });
    (rule.to ?? []).forEach(({ operation }, t) => {
      const field = `${at}.to[${t}].operation`;
      if (Object.values(operation ?? {}).every((v) => v === undefined))
        issues.push({ field, message: "an operation must set at least one field" });
      each(operation?.ports, `${field}.ports`, isPort, PORT_MESSAGE);
      each(operation?.notPorts, `${field}.notPorts`, isPort, PORT_MESSAGE);
    });
    (rule.when ?? []).forEach((condition, w) => {
      const field = `${at}.when[${w}]`;
      if (condition.values === undefined && condition.notValues === undefined)
        issues.push({ field, message: "a condition needs values or notValues" });
      const kind = HEADER_KEY.test(condition.key) ? "RequestHeader" : CONDITION_KINDS[condition.key];
      if (kind === undefined) {
        issues.push({ field: `${field}.key`, message: `key must be one of ${CONDITION_KEYS.join(", ")}` });
      } else if (kind === "SourceIp" || kind === "RemoteIp" || kind === "DestinationIp") {
        each(condition.values, `${field}.values`, isCidr, IP_MESSAGE);
        each(condition.notValues, `${field}.notValues`, isCidr, IP_MESSAGE);
      } else if (kind === "DestinationPort") {
        each(condition.values, `${field}.values`, isPort, PORT_MESSAGE);
        each(condition.notValues, `${field}.notValues`, isPort, PORT_MESSAGE);
      }
    });
  });
  return issues;
}

export function peerAuthenticationIssues(pa: PeerAuthentication): ValidationIssue[] {
  const portLevel = pa.spec?.portLevelMtls;
  if (portLevel === undefined) return [];
  const issues: ValidationIssue[] = [];
  if (pa.spec.selector === undefined)
    issues.push({ field: "spec.portLevelMtls", message: "portLevelMtls requires a selector" });
  if (Object.keys(portLevel).some((k) => !/^[0-9]{1,5}$/.test(k) || parsePort(k) === undefined))
    issues.push({ field: "spec.portLevelMtls", message: "keys must be port numbers from 1 to 65535" });
  return issues;
}

// --- Findings ----------------------------------------------------------------

const oldestFirst = (a: PeerAuthenticationModel, b: PeerAuthenticationModel) =>
  a.created.localeCompare(b.created) || a.source.name.localeCompare(b.source.name);

/**
 * At each level only the oldest PeerAuthentication decides, ties broken by
 * name: the mesh level (no selector, root namespace), a namespace (no
 * selector), and a workload (selectors in one namespace that both select it).
 * Two selectors conflict when a given Pod matches both, or when one's labels
 * include the other's, so that every workload the narrower one selects is
 * selected by both.
 */
function peerAuthenticationConflicts(
  policies: readonly PeerAuthenticationModel[],
  rootNamespace: string,
  pods: readonly IPod[],
): Map<string, PolicyFinding> {
  const findings = new Map<string, PolicyFinding>();
  const sorted = [...policies].sort(oldestFirst);
  const conflicted = (loser: PeerAuthenticationModel, winner: PeerAuthenticationModel, what: string) =>
    findings.set(`${loser.source.namespace}/${loser.source.name}`, {
      type: "Accepted",
      status: "False",
      reason: "Conflicted",
      message: `PeerAuthentication ${winner.source.name} is older and already sets the mTLS mode of ${what}.`,
    });

  sorted.forEach((policy, i) => {
    const older = sorted.slice(0, i).filter((o) => o.source.namespace === policy.source.namespace);
    if (policy.scope.kind !== "Workload") {
      const winner = older.find((o) => o.scope.kind !== "Workload");
      const what =
        policy.source.namespace === rootNamespace
          ? "the whole mesh"
          : `the namespace ${policy.source.namespace}`;
      if (winner) conflicted(policy, winner, what);
      return;
    }
    if (policy.source.namespace === rootNamespace) return;
    const mine = policy.scope.matchLabels;
    for (const other of older) {
      if (other.scope.kind !== "Workload") continue;
      const theirs = other.scope.matchLabels;
      const pod = pods.find(
        (p) =>
          p.metadata?.namespace === policy.source.namespace &&
          labelsInclude(p.metadata?.labels ?? {}, mine) &&
          labelsInclude(p.metadata?.labels ?? {}, theirs),
      );
      if (pod) {
        conflicted(policy, other, `Pod ${pod.metadata?.name}`);
        return;
      }
      if (labelsInclude(mine, theirs) || labelsInclude(theirs, mine)) {
        conflicted(policy, other, "the workloads both select");
        return;
      }
    }
  });
  return findings;
}

/**
 * Warnings for AuthorizationPolicy rules that use peer identities on a
 * workload whose effective mTLS mode is `mode`. Only DISABLE is "not under
 * mTLS": a PERMISSIVE workload still sees identities from mTLS clients.
 *
 * - A rule whose every source needs principals or namespaces, or whose
 *   `when` requires source.principal or source.namespace values, never matches.
 * - A source that needs them never matches, though the rule's other sources may.
 * - notPrincipals and notNamespaces (and notValues of those keys) match every
 *   plaintext request.
 */
export function mtlsWarnings(policy: AuthorizationPolicyModel, mode: EffectiveMtlsMode): SecurityWarning[] {
  if (mode !== "DISABLE" || policy.rules.kind !== "Rules") return [];
  const warnings: SecurityWarning[] = [];
  const identityCondition = (c: ConditionModel) =>
    c.kind === "SourcePrincipal" || c.kind === "SourceNamespace";
  for (const rule of policy.rules.rules) {
    const needy = rule.from.map((s) => s.principals !== undefined || s.namespaces !== undefined);
    const whenNeeds = rule.when.some((c) => identityCondition(c) && c.values !== undefined);
    if (whenNeeds || (needy.length > 0 && needy.every(Boolean))) {
      warnings.push({
        reason: "PrincipalsWithoutMtls",
        rule: rule.index,
        message: "principals are used but the workload is not under mTLS, so this rule never matches",
      });
    } else {
      needy.forEach((needs, i) => {
        if (needs)
          warnings.push({
            reason: "PrincipalsWithoutMtls",
            rule: rule.index,
            message: `principals are used in from[${i}] but the workload is not under mTLS, so that source never matches`,
          });
      });
    }
    const negated =
      rule.from.some((s) => s.notPrincipals !== undefined || s.notNamespaces !== undefined) ||
      rule.when.some((c) => identityCondition(c) && c.notValues !== undefined);
    if (negated)
      warnings.push({
        reason: "NotPrincipalsWithoutMtls",
        rule: rule.index,
        message:
          "notPrincipals or notNamespaces are used but the workload is not under mTLS, so they match every request",
      });
  }
  return warnings;
}

/** The warnings of a policy over the given Pods it applies to, by their workload-wide mTLS mode. */
function podWarnings(
  policy: AuthorizationPolicyModel,
  peerAuthentications: readonly PeerAuthenticationModel[],
  settings: Pick<SecurityModel, "rootNamespace" | "defaultMtlsMode">,
  pods: readonly IPod[],
): SecurityWarning[] {
  const seen = new Map<string, SecurityWarning>();
  for (const pod of pods) {
    const workload = {
      namespace: pod.metadata?.namespace ?? "",
      labels: definedLabels(pod.metadata?.labels),
    };
    if (!appliesTo(policy, settings.rootNamespace, workload)) continue;
    const mode = effectiveMtls(
      peerAuthentications,
      settings.rootNamespace,
      workload,
      undefined,
      settings.defaultMtlsMode,
    );
    for (const w of mtlsWarnings(policy, mode)) seen.set(`${w.rule}/${w.message}`, w);
  }
  return [...seen.values()].sort((a, b) => a.rule - b.rule);
}

function invalid(issues: readonly ValidationIssue[]): PolicyFinding {
  return {
    type: "Accepted",
    status: "False",
    reason: "Invalid",
    message: issues.map((i) => `${i.field}: ${i.message}`).join("; "),
  };
}

function entry(
  kind: SecurityPolicyFindings["kind"],
  source: PolicySource,
  accepted: PolicyFinding,
  warnings: SecurityWarning[],
): SecurityPolicyFindings {
  return { kind, source, findings: [accepted], warnings };
}

function sourceOf(obj: {
  metadata: { namespace?: string; name?: string; generation?: number };
}): PolicySource {
  return {
    namespace: obj.metadata.namespace ?? "",
    name: obj.metadata.name ?? "",
    generation: obj.metadata.generation ?? 0,
  };
}

function definedLabels(labels: Record<string, string | undefined> | undefined): Labels {
  return Object.fromEntries(
    Object.entries(labels ?? {})
      .filter((e): e is [string, string] => e[1] !== undefined)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
