import assert from "node:assert/strict";
import { installedCrdChecks, preInstallCrdChecks, type Crd } from "../../../../src/cli/check/crds.js";
import { identityChecks, trustBundleCheck } from "../../../../src/cli/check/identity.js";
import { kubernetesVersionCheck } from "../../../../src/cli/check/kubernetes-version.js";
import { controlPlaneChecks, xdsServingCheck, type MeshObject } from "../../../../src/cli/check/mesh.js";
import { currentLeader, operatorChecks, type Lease } from "../../../../src/cli/check/operator.js";
import { deploymentProblem, readyAddresses, type Deployment } from "../../../../src/cli/check/workloads.js";
import { createSelfSignedCa } from "../../../../src/pki/issue.js";

const NOW = new Date("2026-12-04T12:00:00Z");
const DAY = 24 * 3600_000;

/** A Deployment as the Deployment controller reports it. */
const deployment = (available: "True" | "False", ready: number): Deployment => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "skiff-xds", namespace: "skiff-system" },
  spec: { replicas: 2 },
  status: {
    readyReplicas: ready,
    conditions: [
      available === "True"
        ? {
            type: "Available",
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.",
          }
        : {
            type: "Available",
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.",
          },
    ],
  },
});

const lease = (holder: string, renewedMsAgo: number): Lease => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: "skiff-operator", namespace: "skiff-system" },
  spec: {
    holderIdentity: holder,
    leaseDurationSeconds: 15,
    renewTime: new Date(NOW.getTime() - renewedMsAgo).toISOString(),
  },
});

const mesh = (
  ready: { status: "True" | "False" | "Unknown"; reason: string; message: string },
  notAfter?: string,
): MeshObject => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "Mesh",
  metadata: { name: "default" },
  spec: { rootNamespace: "skiff-system" },
  status: {
    conditions: [
      { type: "Ready", ...ready, lastTransitionTime: NOW.toISOString() },
      {
        type: "CertificateAuthorityReady",
        status: "True",
        reason: "CertificateAuthorityReady",
        message: "CN=root",
        lastTransitionTime: NOW.toISOString(),
      },
    ],
    ...(notAfter ? { certificateAuthority: { notAfter, fingerprintSHA256: "ab" } } : {}),
  },
});
const READY = { status: "True", reason: "Ready", message: "the mesh is ready" } as const;

describe("skiff check's checks, on objects as the API server returns them", () => {
  it("the Kubernetes version: 1.31 and later pass, 1.30 fails, a '+' minor is read", () => {
    assert.equal(kubernetesVersionCheck({ major: 1, minor: 31, gitVersion: "v1.31.0" }).status, "ok");
    assert.equal(kubernetesVersionCheck({ major: 1, minor: 37, gitVersion: "v1.37.2" }).status, "ok");
    const old = kubernetesVersionCheck({ major: 1, minor: 30, gitVersion: "v1.30.4-gke.1" });
    assert.equal(old.status, "fail");
    assert.match(old.hint!, /upgrade the cluster/);
    assert.equal(
      kubernetesVersionCheck({ major: 1, minor: parseInt("31+", 10), gitVersion: "v1.31.1-eks" }).status,
      "ok",
    );
  });

  it("CRDs: Established and storing v1alpha1 pass; missing, not Established, being deleted or without v1alpha1 fail", () => {
    const crd = (patch: Partial<Crd> = {}): Crd => ({
      metadata: { name: "meshes.skiff.dev" },
      spec: { versions: [{ name: "v1alpha1", served: true, storage: true }] },
      status: { conditions: [{ type: "Established", status: "True" }], storedVersions: ["v1alpha1"] },
      ...patch,
    });
    const results = installedCrdChecks(
      new Map<string, Crd | undefined>([
        ["a", crd()],
        ["b", undefined],
        [
          "c",
          crd({ status: { conditions: [{ type: "Established", status: "False", message: "not yet" }] } }),
        ],
        ["d", crd({ metadata: { name: "d", deletionTimestamp: NOW } })],
        ["e", crd({ spec: { versions: [{ name: "v1beta1", served: true }] } })],
      ]),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ["ok", "fail", "fail", "fail", "fail"],
    );
    assert.match(results[2]!.detail!, /not Established: not yet/);
    assert.match(results[3]!.detail!, /being deleted/);
    assert.match(results[4]!.detail!, /serves v1beta1/);
    const pre = preInstallCrdChecks(
      new Map([
        ["a", undefined],
        ["b", crd()],
        ["c", crd({ spec: { versions: [{ name: "v2" }] } })],
      ]),
    );
    assert.deepEqual(
      pre.map((r) => r.status),
      ["ok", "warning", "fail"],
    );
  });

  it("a Deployment serves when it is Available with a ready replica, and says why not otherwise", () => {
    assert.equal(deploymentProblem(deployment("True", 2)), undefined);
    assert.equal(
      deploymentProblem(deployment("False", 0)),
      "0 of 2 replicas ready; Available=False (MinimumReplicasUnavailable): Deployment does not have minimum availability.",
    );
  });

  it("the operator: an Available Deployment and a live leader pass; a Lease past its duration or released fails", () => {
    assert.equal(currentLeader(lease("operator-a", 14_000), NOW), "operator-a");
    assert.equal(currentLeader(lease("operator-a", 16_000), NOW), undefined);
    assert.equal(currentLeader(lease("", 1000), NOW), undefined);
    const up = operatorChecks(
      { namespace: "skiff-system", deployment: deployment("True", 2), lease: lease("operator-a", 1000) },
      NOW,
    );
    assert.deepEqual(
      up.map((c) => c.status),
      ["ok", "ok"],
    );
    const down = operatorChecks(
      { namespace: "skiff-system", deployment: deployment("False", 0), lease: lease("operator-a", 60_000) },
      NOW,
    );
    assert.deepEqual(
      down.map((c) => c.status),
      ["fail", "fail"],
    );
    assert.match(down[0]!.hint!, /kubectl -n skiff-system describe deployment skiff-operator/);
    assert.match(down[1]!.hint!, /the operator is down/);
  });

  it("the control plane: a Ready Mesh and an Available xDS server behind ready endpoints pass", () => {
    const checks = controlPlaneChecks({
      mesh: mesh(READY),
      xdsDeployment: deployment("True", 2),
      xdsEndpoints: { serviceExists: true, readyAddresses: 2 },
    });
    assert.deepEqual(
      checks.map((c) => [c.id, c.status]),
      [
        ["mesh-exists", "ok"],
        ["mesh-ready", "ok"],
        ["xds-deployment", "ok"],
        ["xds-endpoints", "ok"],
      ],
    );
    const down = controlPlaneChecks({
      mesh: mesh({ status: "False", reason: "ReconcileFailed", message: "ControlPlaneAvailable: boom" }),
      xdsDeployment: undefined,
      xdsEndpoints: { serviceExists: true, readyAddresses: 0 },
    });
    assert.deepEqual(
      down.map((c) => c.status),
      ["ok", "fail", "fail", "fail"],
    );
    assert.match(down[1]!.hint!, /operator fails to reconcile/);
    assert.equal(
      controlPlaneChecks({ mesh: undefined, xdsDeployment: undefined, xdsEndpoints: undefined })[0]!.status,
      "fail",
    );
  });

  it("the xDS server's /readyz: 200 passes, its own 503 fails, the API server's refusal to proxy warns", () => {
    assert.equal(
      xdsServingCheck({ kind: "answered", status: 200, body: "ok\n" }, "skiff-system").status,
      "ok",
    );
    const notReady = xdsServingCheck({ kind: "answered", status: 503, body: "not ready\n" }, "skiff-system");
    assert.equal(notReady.status, "fail");
    assert.equal(notReady.detail, "it answered 503: not ready");
    assert.match(notReady.hint!, /kubectl -n skiff-system logs deployment\/skiff-xds/);
    const unreachable = xdsServingCheck(
      { kind: "not-proxied", status: 503, message: "no route to host" },
      "skiff-system",
    );
    assert.equal(unreachable.status, "warning");
    assert.match(unreachable.hint!, /no route to Pods/);
    assert.match(
      xdsServingCheck({ kind: "not-proxied", status: 403, message: "forbidden" }, "x").hint!,
      /services\/proxy/,
    );
    // Found in this project's sandbox: an egress proxy answered for the Pod; that is not the xDS server's word.
    const intercepted = xdsServingCheck(
      { kind: "answered", status: 403, body: "resolve_deny: denied destination" },
      "skiff-system",
    );
    assert.equal(intercepted.status, "warning");
    assert.match(intercepted.detail!, /did not come from the xDS server's probe endpoint: 403 resolve_deny/);
  });

  it("counts ready endpoints of the Service's slices only, an endpoint without a ready condition as ready", () => {
    const slice = (service: string, endpoints: object[]) => ({
      metadata: { name: `${service}-x`, labels: { "kubernetes.io/service-name": service } },
      endpoints,
    });
    const slices = [
      slice("skiff-xds", [
        { addresses: ["10.0.0.1"], conditions: { ready: true } },
        { addresses: ["10.0.0.2"], conditions: { ready: false } },
        { addresses: ["10.0.0.3"] },
      ]),
      slice("other", [{ addresses: ["10.0.0.9"], conditions: { ready: true } }]),
    ];
    assert.equal(readyAddresses(slices, "skiff-xds"), 2);
  });

  it("the CA: more than 30 days left passes with the days, 30 or fewer warns, expired fails", async () => {
    const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString().replace(/\.\d+Z$/, "Z");
    const expiry = (days: number) =>
      identityChecks(mesh(READY, at(days)), undefined, NOW).find((c) => c.id === "ca-expiry")!;
    assert.equal(expiry(400).status, "ok");
    assert.match(expiry(400).detail!, /in 400 days/);
    assert.equal(expiry(29).status, "warning");
    assert.match(expiry(29).hint!, /Rotating the mesh root CA/);
    assert.equal(expiry(-1).status, "fail");
    assert.equal(
      identityChecks(mesh(READY), undefined, NOW).find((c) => c.id === "ca-expiry")!.status,
      "fail",
    );
  });

  it("the trust anchors: read from the trust bundle, each with its validity and days left", async () => {
    const root = async (fromDays: number, toDays: number) =>
      (
        await createSelfSignedCa(
          "CN=skiff-root,O=skiff",
          new Date(NOW.getTime() + fromDays * DAY),
          new Date(NOW.getTime() + toDays * DAY),
        )
      ).pair.certPem;
    const bundle = async (...pems: Promise<string>[]) => ({
      namespace: "apps",
      pem: (await Promise.all(pems)).join(""),
    });
    const valid = trustBundleCheck(await bundle(root(-1, 365)), NOW);
    assert.equal(valid.status, "ok");
    assert.match(valid.detail!, /CN=skiff-root, O=skiff: valid until 2027-12-04T12:00:00.000Z \(365 days\)/);
    const soon = trustBundleCheck(await bundle(root(-1, 365), root(-400, 20)), NOW);
    assert.equal(soon.status, "warning");
    assert.match(soon.detail!, /in apps\/skiff-trust-bundle: .* expires at .*, in 20 days/);
    const expired = trustBundleCheck(await bundle(root(-400, -1)), NOW);
    assert.equal(expired.status, "fail");
    assert.match(expired.detail!, /expired at/);
    assert.equal(trustBundleCheck(await bundle(root(2, 365)), NOW).status, "fail");
    assert.equal(trustBundleCheck({ namespace: "apps", pem: "not a certificate" }, NOW).status, "fail");
    assert.equal(trustBundleCheck(undefined, NOW).status, "warning");
  });
});
