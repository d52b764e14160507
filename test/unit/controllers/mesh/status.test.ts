import assert from "node:assert/strict";
import {
  meshStatus,
  reconcileFailedStatus,
  type MeshObservation,
} from "../../../../src/controllers/mesh/status.js";

const now = new Date("2026-11-25T12:00:00Z");
const healthy: MeshObservation = {
  generation: 3,
  ca: {
    ok: true,
    notAfter: new Date("2036-11-25T12:00:00.500Z"),
    fingerprintSHA256: "AB:CD",
    subject: "O=cluster.local",
  },
  deployment: {
    available: { status: "True", reason: "MinimumReplicasAvailable", message: "ok" },
    readyReplicas: 2,
  },
  meshedNamespaces: 4,
  namespaceSelectorProblems: [],
  trustBundleAvailable: true,
  configuredNamespaces: 4,
  xdsAddress: "skiff-xds.skiff-system.svc:15010",
};
const byType = (status: ReturnType<typeof meshStatus>) =>
  Object.fromEntries((status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));

describe("Mesh status", () => {
  it("warns of a CA that expires within 30 days, from status.certificateAuthority.notAfter, and stays Ready", () => {
    const expiringIn = (ms: number): MeshObservation => ({
      ...healthy,
      ca: { ...healthy.ca, ok: true, notAfter: new Date(now.getTime() + ms) } as MeshObservation["ca"],
    });
    const status = meshStatus(expiringIn(10 * 24 * 3600_000), [], now);
    assert.equal(byType(status)["CertificateAuthorityNotExpiringSoon"], "False/ExpiringSoon");
    assert.equal(byType(status)["Ready"], "True/Ready", "the mesh still works");
    const lost: MeshObservation = {
      ...healthy,
      ca: { ok: false, reason: "CASecretMissing", message: "gone" },
      lastKnownCa: { notAfter: "2026-12-01T12:00:00Z", fingerprintSHA256: "AB:CD" },
    };
    assert.equal(
      byType(meshStatus(lost, [], now))["CertificateAuthorityNotExpiringSoon"],
      "False/ExpiringSoon",
      "a lost CA's last record still dates it",
    );
  });

  it("is Ready when the CA, the control plane and injection all are", () => {
    const status = meshStatus(healthy, [], now);
    assert.deepEqual(byType(status), {
      Ready: "True/Ready",
      CertificateAuthorityReady: "True/CertificateAuthorityReady",
      ControlPlaneAvailable: "True/MinimumReplicasAvailable",
      InjectionConfigured: "True/Configured",
      CertificateAuthorityNotExpiringSoon: "True/NotExpiringSoon",
    });
    assert.ok(status.conditions!.every((c) => c.observedGeneration === 3));
    assert.deepEqual(status.certificateAuthority, {
      notAfter: "2036-11-25T12:00:00Z",
      fingerprintSHA256: "AB:CD",
    });
    assert.equal(status.meshedNamespaces, 4);
  });

  it("carries the first failing condition's reason into Ready", () => {
    const status = meshStatus(
      {
        ...healthy,
        ca: { ok: false, reason: "KeyMismatch", message: "tls.key does not belong to tls.crt" },
        trustBundleAvailable: false,
      },
      [],
      now,
    );
    assert.equal(byType(status).Ready, "False/KeyMismatch");
    assert.equal(byType(status).InjectionConfigured, "False/TrustBundleUnavailable");
    assert.equal(status.certificateAuthority, undefined);
  });

  it("says InjectionConfigured=False/InvalidNamespaceSelector, naming the field, when the selector cannot match", () => {
    const status = meshStatus(
      {
        ...healthy,
        namespaceSelectorProblems: [
          'spec.injection.namespaceSelector.matchLabels: keys must be label keys: …; "a b" is not',
        ],
        configuredNamespaces: 0,
      },
      [],
      now,
    );
    assert.equal(byType(status).InjectionConfigured, "False/InvalidNamespaceSelector");
    assert.equal(byType(status).Ready, "False/InvalidNamespaceSelector");
    const message = status.conditions!.find((c) => c.type === "InjectionConfigured")!.message;
    assert.match(message, /^spec\.injection\.namespaceSelector\.matchLabels: keys must be label keys/);
    assert.match(message, /the 4 namespaces meshed before keep their trust bundle and bootstrap/);
  });

  it("says InjectionConfigured=False/InvalidSidecarSettings and ControlPlaneAvailable=False/InvalidResources, naming the fields", () => {
    const status = meshStatus(
      {
        ...healthy,
        sidecarProblems: ['spec.injection.proxy.resources.limits.memory: must be …, not "0"'],
        controlPlaneProblems: ['spec.controlPlane.resources.limits.cpu: must be …, not "0"'],
        configuredNamespaces: 0,
      },
      [],
      now,
    );
    assert.equal(byType(status).InjectionConfigured, "False/InvalidSidecarSettings");
    assert.equal(byType(status).ControlPlaneAvailable, "False/InvalidResources");
    assert.equal(byType(status).Ready, "False/InvalidResources");
    const message = (type: string) => status.conditions!.find((c) => c.type === type)!.message;
    assert.match(message("InjectionConfigured"), /^spec\.injection\.proxy\.resources\.limits\.memory: /);
    assert.match(
      message("InjectionConfigured"),
      /the 4 meshed namespaces keep the trust bundle and bootstrap they have/,
    );
    assert.match(message("ControlPlaneAvailable"), /^spec\.controlPlane\.resources\.limits\.cpu: /);
  });

  it("keeps the CA it last saw on record while the CA is unusable, so that a lost root is known as lost", () => {
    const lastKnownCa = { notAfter: "2036-11-25T12:00:00Z", fingerprintSHA256: "AB:CD" };
    const missing = meshStatus(
      {
        ...healthy,
        ca: { ok: false, reason: "CASecretMissing", message: "gone" },
        trustBundleAvailable: false,
        lastKnownCa,
      },
      [],
      now,
    );
    assert.deepEqual(missing.certificateAuthority, lastKnownCa);
    assert.equal(byType(missing).CertificateAuthorityReady, "False/CASecretMissing");
    // A usable CA is recorded as it is, whatever was on record before.
    assert.equal(
      meshStatus({ ...healthy, lastKnownCa: { ...lastKnownCa, fingerprintSHA256: "OLD" } }, [], now)
        .certificateAuthority?.fingerprintSHA256,
      "AB:CD",
    );
  });

  it("configures injection while a staged root's trust bundle is written, though the root does not sign yet", () => {
    const staged = meshStatus(
      {
        ...healthy,
        ca: { ok: false, reason: "NewRootStaged", message: "signs from 12:01" },
        trustBundleAvailable: true,
      },
      [],
      now,
    );
    assert.equal(byType(staged).CertificateAuthorityReady, "False/NewRootStaged");
    assert.equal(byType(staged).InjectionConfigured, "True/Configured");
    assert.equal(byType(staged).Ready, "False/NewRootStaged");
  });

  it("mirrors a Deployment that has not reported as Unknown, and an unavailable one as False", () => {
    assert.equal(
      byType(meshStatus({ ...healthy, deployment: { readyReplicas: 0 } }, [], now)).ControlPlaneAvailable,
      "Unknown/DeploymentPending",
    );
    const unavailable = meshStatus(
      {
        ...healthy,
        deployment: {
          available: { status: "False", reason: "MinimumReplicasUnavailable" },
          readyReplicas: 0,
        },
      },
      [],
      now,
    );
    assert.equal(byType(unavailable).ControlPlaneAvailable, "False/MinimumReplicasUnavailable");
    assert.equal(byType(unavailable).Ready, "False/MinimumReplicasUnavailable");
  });

  it("keeps transition times of conditions whose status did not change", () => {
    const first = meshStatus(healthy, [], now);
    const later = meshStatus(
      { ...healthy, meshedNamespaces: 5, configuredNamespaces: 5 },
      first.conditions as never,
      new Date("2026-11-26T00:00:00Z"),
    );
    assert.deepEqual(
      later.conditions!.map((c) => c.lastTransitionTime),
      first.conditions!.map((c) => c.lastTransitionTime),
    );
  });

  it("says Ready=False/ReconcileFailed when a reconcile fails, and keeps everything else it last observed", () => {
    const healthyStatus = meshStatus(healthy, [], now);
    const later = new Date("2026-11-26T00:00:00Z");
    const failed = reconcileFailedStatus(
      healthyStatus,
      "PATCH /apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds: 403 Forbidden: denied",
      4,
      later,
    );
    assert.deepEqual(byType(failed), { ...byType(healthyStatus), Ready: "False/ReconcileFailed" });
    const ready = failed.conditions!.find((c) => c.type === "Ready")!;
    assert.match(ready.message, /403 Forbidden: denied/);
    assert.equal(ready.observedGeneration, 4, "the generation the failed attempt worked on");
    assert.equal(ready.lastTransitionTime, "2026-11-26T00:00:00Z");
    // What was last observed stays: the failure says nothing new about the CA or the control plane.
    assert.equal(failed.observedGeneration, 3);
    assert.deepEqual(failed.certificateAuthority, healthyStatus.certificateAuthority);
    assert.deepEqual(failed.controlPlane, healthyStatus.controlPlane);
    assert.equal(failed.meshedNamespaces, 4);
  });

  it("cuts a long failure message on code points, so the status write itself cannot fail", () => {
    const failed = reconcileFailedStatus(undefined, "\u{1F6A2}".repeat(40_000), 1, now);
    const message = failed.conditions!.find((c) => c.type === "Ready")!.message;
    assert.ok([...message].length <= 1024, `${[...message].length} code points`);
    assert.doesNotMatch(message, /[\uD800-\uDFFF]/u, "no lone half of a surrogate pair");
    assert.ok(message.endsWith("\u{1F6A2}"));
  });
});
