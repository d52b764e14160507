import type { CompileResult } from "../../compile/compile.js";
import type { PolicyKind } from "../../compile/findings.js";
import type { PolicySource } from "../../ir/source.js";
import type { Condition } from "../../k8s/conditions.js";
import { serviceResourceNames } from "../translate/names.js";
import type { Programming } from "./programming.js";
import type { ProxyIndex } from "./proxy-index.js";
import { securityPolicyStatus } from "./security-policy.js";
import { trafficPolicyStatus } from "./traffic-policy.js";

/**
 * One policy whose status the writer keeps: what it is, how this replica's
 * proxies have taken it, and how to compute its status from the programming
 * of all replicas (see replica-merge.ts).
 */
export interface StatusTarget {
  readonly kind: PolicyKind;
  readonly source: PolicySource;
  /** Among the proxies indexed for statusTargets (this replica's). */
  readonly programming: Programming;
  status(programming: Programming, previous: readonly Condition[], now: Date): object;
}

const NO_PROXIES: Programming = { targeted: 0, proxyless: 0, acked: 0, nacked: 0, lastNackMessage: "" };

/**
 * The status of every policy in one compile result, from what compile
 * handed over (the Service a TrafficPolicy governs, the workloads a
 * security policy applies to) and translate's names for a Service's
 * resources. `carriedSince` gives, for a policy's generation, the first
 * pipeline generation that carried it: a proxy has it once it runs that
 * generation or a newer one. Pure.
 */
export function statusTargets(
  result: CompileResult,
  carriedSince: (kind: PolicyKind, source: PolicySource) => number,
  proxies: ProxyIndex,
): StatusTarget[] {
  const services = new Map(result.model.services.map((s) => [s.hostname, s]));
  const traffic = result.findings.map((found): StatusTarget => {
    const service = found.service === undefined ? undefined : services.get(found.service);
    return {
      kind: "TrafficPolicy",
      source: found.source,
      programming: service
        ? proxies.ofService(serviceResourceNames(service), carriedSince("TrafficPolicy", found.source))
        : NO_PROXIES,
      status: (programming, previous, now) => trafficPolicyStatus(found, programming, previous, now),
    };
  });
  const security = result.securityFindings.map((found): StatusTarget => ({
    kind: found.kind,
    source: found.source,
    programming: proxies.ofWorkloads(found.workloads, carriedSince(found.kind, found.source)),
    status: (programming, previous, now) =>
      securityPolicyStatus(found, found.workloads.length, programming, previous, now),
  }));
  return [...traffic, ...security];
}
