import { terminatesMeshTls } from "../../compile/data-plane.js";
import { skipReason } from "../../inject/sidecar.js";
import { refOf, type Analyzer } from "../analyzer.js";
import { isAdmitted, isLive } from "../view.js";

/**
 * A Pod in a namespace labelled for injection that has no sidecar although
 * the injector would give it one now: it was created before the label (or
 * while the injector was down). Its traffic bypasses the mesh. Istio's
 * IST0103 PodMissingProxy, a warning there too. Over files, only admitted
 * Pods (with a status) are judged: a Pod in a manifest gets its sidecar when
 * it is created.
 */
export const podMissingSidecar: Analyzer = {
  code: "SKF0402",
  severity: "warning",
  name: "PodMissingSidecar",
  fix: "Restart the Pod (kubectl rollout restart the Deployment that owns it) so the injector adds the sidecar.",
  analyze: (view) =>
    view.snapshot.pods
      .filter(
        (pod) =>
          view.meshedNamespaces.has(pod.metadata?.namespace ?? "") &&
          isAdmitted(pod) &&
          isLive(pod) &&
          !terminatesMeshTls(pod) &&
          skipReason(pod) === undefined,
      )
      .map((pod) => ({
        object: refOf("Pod", pod.metadata),
        field: "spec.containers",
        message: `the namespace is labelled for injection but the Pod has no sidecar (it predates the label, or the injector was down), so its traffic bypasses the mesh`,
      })),
};
