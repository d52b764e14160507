import type { IPod } from "kubernetes-models/v1";
import { terminatesMeshTls } from "../../compile/data-plane.js";
import { mtlsDecision } from "../../policy/mtls.js";
import type { Analyzer } from "../analyzer.js";
import type { Detection, ObjectRef } from "../finding.js";
import { isAdmitted, isLive, type AnalysisView } from "../view.js";

/**
 * STRICT mTLS for workloads that Pods without a sidecar can be expected to
 * call: a client without a sidecar sends plaintext, which STRICT refuses.
 *
 * Nothing in the cluster says who calls whom, so the rule is the narrowest
 * one with a reason behind it: a sidecar-less Pod in the same namespace as a
 * STRICT workload (a namespace is usually one application, whose parts call
 * each other). Sidecar-less Pods of other namespaces are not counted, nor are
 * Pods in a manifest that the injector has not seen yet. The finding is on
 * the PeerAuthentication that decides STRICT (or the Mesh, for its default).
 */
export const peerStrictPlaintextClients: Analyzer = {
  code: "SKF0204",
  severity: "warning",
  name: "StrictMtlsWithPlaintextClients",
  fix: "Give the callers a sidecar (restart them in a meshed namespace), or use PERMISSIVE until they have one.",
  analyze: (view) => {
    const security = view.compiled.security;
    const byDecider = new Map<
      string,
      { object: ObjectRef; field: string; workloads: string[]; clients: string[] }
    >();
    for (const workload of view.compiled.model.workloads) {
      const namespace = workload.key.split("/")[0] ?? "";
      const clients = plaintextPods(view, namespace);
      if (clients.length === 0) continue;
      const ports: (number | undefined)[] = [undefined, ...Object.keys(workload.mtls.portModes).map(Number)];
      for (const port of ports) {
        const mode = port === undefined ? workload.mtls.mode : workload.mtls.portModes[port];
        if (mode !== "STRICT") continue;
        const decision = mtlsDecision(
          security.peerAuthentications,
          security.rootNamespace,
          { namespace, labels: workload.labels },
          port,
          security.defaultMtlsMode,
        );
        const decider = deciderOf(decision.policy, decision.level, port, view);
        const key = `${decider.object.namespace ?? ""}/${decider.object.name}/${decider.field}`;
        const entry = byDecider.get(key) ?? { ...decider, workloads: [], clients: [] };
        if (!entry.workloads.includes(workload.key)) entry.workloads.push(workload.key);
        for (const client of clients) if (!entry.clients.includes(client)) entry.clients.push(client);
        byDecider.set(key, entry);
      }
    }
    return [...byDecider.values()].map((e): Detection => ({
      object: e.object,
      field: e.field,
      message: `STRICT refuses plaintext, but Pods without a sidecar in the same namespace (${few(e.clients)}) can only send plaintext to ${few(e.workloads)}`,
    }));
  },
};

/** Admitted, live Pods of the namespace that cannot send mTLS. */
function plaintextPods(view: AnalysisView, namespace: string): string[] {
  return view.snapshot.pods
    .filter(
      (pod: IPod) =>
        pod.metadata?.namespace === namespace && isAdmitted(pod) && isLive(pod) && !terminatesMeshTls(pod),
    )
    .map((pod) => `${namespace}/${pod.metadata?.name ?? ""}`)
    .sort();
}

function deciderOf(
  policy: string | null,
  level: string,
  port: number | undefined,
  view: AnalysisView,
): { object: ObjectRef; field: string } {
  if (policy === null)
    return {
      object: { kind: "Mesh", name: view.mesh?.metadata?.name ?? "" },
      field: "spec.defaults.mtlsMode",
    };
  const [namespace = "", name = ""] = policy.split("/");
  return {
    object: { kind: "PeerAuthentication", namespace, name },
    field: level === "Port" ? `spec.portLevelMtls.${port}.mode` : "spec.mtls.mode",
  };
}

function few(items: readonly string[]): string {
  return items.length <= 3
    ? items.join(", ")
    : `${items.slice(0, 3).join(", ")} and ${items.length - 3} more`;
}
