import type { CompileResult } from "../../compile/compile.js";
import type { Condition } from "../../k8s/conditions.js";
import { labelsInclude } from "../../policy/match.js";
import type { PolicySource } from "../../ir/source.js";
import type { PolicyKind } from "../../compile/findings.js";
import type { PolicyObject } from "../../xds/pipeline.js";
import { programmingOf, programmingOfWorkloads } from "../../xds/programming.js";
import type { ProxyState } from "../../xds/server/ads-server.js";
import { trafficPolicyStatus } from "../trafficpolicy/status.js";
import { securityPolicyStatus } from "./security.js";

/** One policy whose status the writer keeps: what it is, and how to compute its status. */
export interface StatusTarget {
  readonly kind: PolicyKind;
  readonly source: PolicySource;
  status(current: PolicyObject, previous: readonly Condition[], now: Date): object;
}

/**
 * The status of every policy in one compile result. `carriedSince` gives,
 * for a policy's generation, the first pipeline generation that carried it:
 * a proxy has it once it runs that generation or a newer one. Pure.
 */
export function statusTargets(
  result: CompileResult,
  carriedSince: (kind: PolicyKind, source: PolicySource) => number,
  proxies: readonly ProxyState[],
): StatusTarget[] {
  const { model, security } = result;
  const traffic: StatusTarget[] = result.findings.map((found) => ({
    kind: "TrafficPolicy",
    source: found.source,
    status: (current, previous, now) => {
      const target =
        "spec" in current && current.spec && "targetRef" in current.spec ? current.spec.targetRef.name : "";
      const service = model.services.find((s) => s.namespace === found.source.namespace && s.name === target);
      const programming = service
        ? programmingOf(service, carriedSince("TrafficPolicy", found.source), proxies)
        : { targeted: 0, proxyless: 0, acked: 0, nacked: 0, lastNackMessage: "" };
      return trafficPolicyStatus(found, programming, previous, now);
    },
  }));
  const securityTargets: StatusTarget[] = result.securityFindings.map((found) => ({
    kind: found.kind,
    source: found.source,
    status: (_current, previous, now) => {
      const same = (s: PolicySource) =>
        s.namespace === found.source.namespace && s.name === found.source.name;
      let workloads: Set<string>;
      if (found.kind === "AuthorizationPolicy") {
        workloads = new Set(
          model.workloads.filter((w) => w.authorization.some((p) => same(p.source))).map((w) => w.key),
        );
      } else {
        // A PeerAuthentication governs the workloads in its scope (the root namespace's: every one).
        const policy = security.peerAuthentications.find((p) => same(p.source));
        workloads = new Set(
          policy
            ? model.workloads
                .filter((w) => {
                  const [namespace = ""] = w.key.split("/");
                  if (policy.scope.kind === "Mesh") return true;
                  if (namespace !== policy.source.namespace) return false;
                  return (
                    policy.scope.kind === "Namespace" || labelsInclude(w.labels, policy.scope.matchLabels)
                  );
                })
                .map((w) => w.key)
            : [],
        );
      }
      const programming =
        found.kind === "AuthorizationPolicy"
          ? programmingOfWorkloads(workloads, carriedSince(found.kind, found.source), proxies)
          : undefined;
      return securityPolicyStatus(found, workloads.size, programming, previous, now);
    },
  }));
  return [...traffic, ...securityTargets];
}
