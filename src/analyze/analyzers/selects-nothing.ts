import { definedLabels } from "../../compile/defined.js";
import { selectorMatches, type LabelSelector } from "../../k8s/selector.js";
import { meshIdentity } from "../../mesh/defaults.js";
import { refOf } from "../analyzer.js";
import type { Detection } from "../finding.js";
import { isLive, type AnalysisView } from "../view.js";

interface SelectingPolicy {
  readonly metadata: { namespace?: string; name?: string };
  readonly spec?: { selector?: unknown };
}

/**
 * Policies whose selector matches no live Pod of their namespace. Only
 * selectors outside the root namespace are judged (a selector there is
 * ignored, for PeerAuthentication, or reaches every namespace, for
 * AuthorizationPolicy), and only where the snapshot shows the namespace's
 * Pods.
 */
export function selectingNothing(
  view: AnalysisView,
  kind: "PeerAuthentication" | "AuthorizationPolicy",
  policies: readonly SelectingPolicy[],
): Detection[] {
  const root = meshIdentity(view.mesh).rootNamespace;
  return policies.flatMap((policy): Detection[] => {
    const namespace = policy.metadata.namespace ?? "";
    const selector = policy.spec?.selector as LabelSelector | undefined;
    if (selector === undefined || namespace === root || !view.observes("Pod", namespace)) return [];
    const selected = view.snapshot.pods.some(
      (pod) =>
        pod.metadata?.namespace === namespace &&
        isLive(pod) &&
        selectorMatches(selector, definedLabels(pod.metadata?.labels)),
    );
    if (selected) return [];
    return [
      {
        object: refOf(kind, policy.metadata),
        field: "spec.selector",
        message: `the selector matches no Pod in namespace ${namespace}, so the policy applies to nothing`,
      },
    ];
  });
}
