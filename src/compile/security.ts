import type { IPod } from "kubernetes-models/v1";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { Mesh } from "../api/v1alpha1/generated/mesh.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import type { PolicySource } from "../ir/source.js";
import type { AuthorizationPolicyModel, PeerAuthenticationModel, SecurityModel } from "../ir/security.js";
import { labelsInclude } from "../policy/match.js";
import type { PolicyFinding } from "./findings.js";
import { byNamespacedName } from "./services.js";
import { authorizationPolicyIssues, peerAuthenticationIssues } from "./security-issues.js";
import { authorizationPolicyModel, peerAuthenticationModel, sourceOf } from "./security-models.js";
import { podWarnings, type SecurityWarning } from "./security-warnings.js";
import { meshIdentity } from "../mesh/defaults.js";

export {
  authorizationPolicyModel,
  parseIpBlock,
  parsePattern,
  peerAuthenticationModel,
} from "./security-models.js";
export { authorizationPolicyIssues, securityIssues } from "./security-issues.js";
export { mtlsWarnings } from "./security-warnings.js";

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
  return meshIdentity(mesh);
}

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
