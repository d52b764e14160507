import type { MeshStatus } from "../../api/v1alpha1/generated/mesh.js";
import { setCondition, setConditions, type Condition, type DesiredCondition } from "../../k8s/conditions.js";
import { truncateCodePoints } from "../../k8s/truncate.js";
import type { CaInspection } from "../../pki/inspect.js";
import { caExpiryCondition } from "./ca-expiry.js";

/** What the reconciler found, for the status to report. */
export interface MeshObservation {
  generation: number;
  /** The CA check, or why there is no CA to check (such as cert-manager missing). */
  ca: CaInspection | { ok: false; reason: string; message: string };
  /**
   * The CA that status last recorded. It stays on record while the CA is
   * unusable: a Mesh that had a root and lost its Secret must still know it,
   * so that the loss is an incident rather than a first start.
   */
  lastKnownCa?: MeshStatus["certificateAuthority"];
  /** Whether there is a trust bundle for meshed namespaces: a usable CA's, or a staged root's. */
  trustBundleAvailable: boolean;
  /** The xDS Deployment's Available condition and ready replicas, if the Deployment controller has reported. */
  deployment: { available?: { status: string; reason?: string; message?: string }; readyReplicas: number };
  meshedNamespaces: number;
  /**
   * Why spec.injection.namespaceSelector is not a selector the API server
   * accepts, field by field (`spec.injection.namespaceSelector.matchLabels: …`);
   * empty when it is one.
   */
  namespaceSelectorProblems: readonly string[];
  /**
   * What the sidecars or their bootstrap cannot take from the Mesh, field by
   * field (sidecarIssues: spec.injection.proxy.resources, the Prometheus
   * port); empty or absent when nothing. A Mesh stored while the validating
   * webhook was down may have such settings.
   */
  sidecarProblems?: readonly string[];
  /** What the xDS server's Deployment cannot take (controlPlaneIssues); empty or absent when nothing. */
  controlPlaneProblems?: readonly string[];
  /** Namespaces whose trust bundle and bootstrap were written this pass. */
  configuredNamespaces: number;
  xdsAddress: string;
}

function caCondition(o: MeshObservation): DesiredCondition {
  return o.ca.ok
    ? {
        type: "CertificateAuthorityReady",
        status: "True",
        reason: "CertificateAuthorityReady",
        message: `${o.ca.subject}, valid until ${o.ca.notAfter.toISOString()}`,
      }
    : { type: "CertificateAuthorityReady", status: "False", reason: o.ca.reason, message: o.ca.message };
}

function controlPlaneCondition(o: MeshObservation): DesiredCondition {
  if (o.controlPlaneProblems?.length) {
    return {
      type: "ControlPlaneAvailable",
      status: "False",
      reason: "InvalidResources",
      message: truncateCodePoints(
        `${o.controlPlaneProblems.join("; ")}. The xDS server's Deployment is left as it was until this is fixed`,
        4096,
      ),
    };
  }
  const available = o.deployment.available;
  if (!available) {
    return {
      type: "ControlPlaneAvailable",
      status: "Unknown",
      reason: "DeploymentPending",
      message: "the xDS server Deployment has not reported availability yet",
    };
  }
  // Mirrors the Deployment's own Available condition.
  return {
    type: "ControlPlaneAvailable",
    status: available.status === "True" ? "True" : available.status === "False" ? "False" : "Unknown",
    reason: available.reason || (available.status === "True" ? "Available" : "Unavailable"),
    message: available.message || `${o.deployment.readyReplicas} xDS replicas ready`,
  };
}

function injectionCondition(o: MeshObservation): DesiredCondition {
  if (o.namespaceSelectorProblems.length > 0) {
    return {
      type: "InjectionConfigured",
      status: "False",
      reason: "InvalidNamespaceSelector",
      message: truncateCodePoints(
        `${o.namespaceSelectorProblems.join("; ")}. Such a selector matches no namespace, so nothing changes until it is fixed: the ${o.meshedNamespaces} namespaces meshed before keep their trust bundle and bootstrap`,
        4096,
      ),
    };
  }
  if (o.sidecarProblems?.length) {
    return {
      type: "InjectionConfigured",
      status: "False",
      reason: "InvalidSidecarSettings",
      message: truncateCodePoints(
        `${o.sidecarProblems.join("; ")}. No bootstrap is written until this is fixed: the ${o.meshedNamespaces} meshed namespaces keep the trust bundle and bootstrap they have`,
        4096,
      ),
    };
  }
  if (!o.trustBundleAvailable) {
    return {
      type: "InjectionConfigured",
      status: "False",
      reason: "TrustBundleUnavailable",
      message: "meshed namespaces get their trust bundle once the certificate authority is ready",
    };
  }
  return {
    type: "InjectionConfigured",
    status: "True",
    reason: "Configured",
    message: `trust bundle and Envoy bootstrap written to ${o.configuredNamespaces} of ${o.meshedNamespaces} meshed namespaces`,
  };
}

/**
 * The Mesh status for an observation. Ready is True only when the CA, the
 * control plane and injection are; otherwise it carries the reason of the
 * first that is not. CertificateAuthorityNotExpiringSoon warns without
 * touching Ready (see caExpiryCondition). Pure: `now` stamps transitions and
 * dates the CA's expiry.
 */
export function meshStatus(o: MeshObservation, previous: readonly Condition[], now: Date): MeshStatus {
  const parts = [caCondition(o), controlPlaneCondition(o), injectionCondition(o)];
  const blocking = parts.find((c) => c.status !== "True");
  const ready: DesiredCondition = blocking
    ? {
        type: "Ready",
        status: "False",
        reason: blocking.reason,
        message: `${blocking.type}: ${blocking.message}`,
      }
    : { type: "Ready", status: "True", reason: "Ready", message: "the mesh is ready" };
  const certificateAuthority = o.ca.ok
    ? {
        notAfter: o.ca.notAfter.toISOString().replace(/\.\d+Z$/, "Z"),
        fingerprintSHA256: o.ca.fingerprintSHA256,
      }
    : o.lastKnownCa;
  const expiry = caExpiryCondition(certificateAuthority?.notAfter, now);
  const conditions = setConditions(
    previous,
    [ready, ...parts, expiry].map((c) => ({ ...c, observedGeneration: o.generation })),
    now,
  );
  return {
    observedGeneration: o.generation,
    conditions,
    ...(certificateAuthority ? { certificateAuthority } : {}),
    controlPlane: { readyReplicas: o.deployment.readyReplicas, xdsAddress: o.xdsAddress },
    meshedNamespaces: o.meshedNamespaces,
  };
}

/** Enough of a failure to read the API server's answer; far below a condition message's 32768. */
const FAILURE_MESSAGE_MAX = 1024;

/**
 * The Mesh status after a reconcile of `generation` failed: Ready=False with
 * reason ReconcileFailed and the error, cut on code points; everything else
 * as last observed, since the failed attempt learned nothing reliable. The
 * next reconcile that succeeds computes Ready afresh, which clears it.
 * Pure: `now` only stamps transitions.
 */
export function reconcileFailedStatus(
  previous: MeshStatus | undefined,
  error: string,
  generation: number,
  now: Date,
): MeshStatus {
  const conditions = setCondition(
    (previous?.conditions ?? []) as Condition[],
    {
      type: "Ready",
      status: "False",
      reason: "ReconcileFailed",
      message: truncateCodePoints(
        `the last reconcile failed and is being retried: ${error}`,
        FAILURE_MESSAGE_MAX,
      ),
      observedGeneration: generation,
    },
    now,
  );
  return { ...reconcilerOwnedStatus(previous), conditions };
}

/**
 * The fields of a Mesh's status that this reconciler writes (meshStatus's).
 * status.connectedProxies is the xDS server's, which alone knows its proxies:
 * a status apply must not claim it, and a change to it is no change of ours.
 */
export function reconcilerOwnedStatus(status: MeshStatus | undefined): MeshStatus {
  const { observedGeneration, conditions, certificateAuthority, controlPlane, meshedNamespaces } =
    status ?? {};
  return { observedGeneration, conditions, certificateAuthority, controlPlane, meshedNamespaces };
}
