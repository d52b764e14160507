import type { IPod } from "kubernetes-models/v1";
import type {
  AuthorizationPolicyModel,
  ConditionModel,
  EffectiveMtlsMode,
  PeerAuthenticationModel,
  SecurityModel,
} from "../ir/security.js";
import { appliesTo } from "../policy/authorization.js";
import { effectiveMtls, servedMtlsMode } from "../policy/mtls.js";
import { dataPlaneOf } from "./data-plane.js";
import { definedLabels } from "./defined.js";

/** A finding that does not make the policy invalid but that its author should see. */
export interface SecurityWarning {
  /**
   * - `PrincipalsWithoutMtls`: principals or namespaces can never match, because
   *   the workload accepts only plaintext and plaintext carries no identity.
   * - `NotPrincipalsWithoutMtls`: notPrincipals or notNamespaces match every
   *   request, for the same reason.
   * - `HttpOnlyFieldsOnTcp`: hosts, methods, paths or request headers on a
   *   workload port that carries TCP (see protocol-warnings.ts).
   */
  readonly reason: "PrincipalsWithoutMtls" | "NotPrincipalsWithoutMtls" | "HttpOnlyFieldsOnTcp";
  /** The index of the rule in spec.rules. */
  readonly rule: number;
  readonly message: string;
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
export function podWarnings(
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
    // What the Pod serves: a proxyless gRPC server serves PERMISSIVE as plaintext.
    const mode = servedMtlsMode(
      effectiveMtls(
        peerAuthentications,
        settings.rootNamespace,
        workload,
        undefined,
        settings.defaultMtlsMode,
      ),
      dataPlaneOf(pod),
    );
    for (const w of mtlsWarnings(policy, mode)) seen.set(`${w.rule}/${w.message}`, w);
  }
  return [...seen.values()].sort((a, b) => a.rule - b.rule);
}
