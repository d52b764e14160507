import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { pino } from "pino";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Mesh } from "../../src/api/v1alpha1/generated/mesh.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { startMeshController, type RunningController } from "../../src/controllers/mesh/controller.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { certificatePems } from "../../src/pki/pem.js";
import { createRootCa } from "../../src/pki/root.js";
import { registry } from "../../src/observability/metrics.js";
import { envoyViolations } from "../support/envoy-validator.js";
import { deleteAndAwaitRecreation, type ObjectRef } from "../support/recreation.js";
import { eventually } from "./kubectl.js";

interface Secret extends KubernetesObject {
  data: Record<string, string>;
}
interface ConfigMap extends KubernetesObject {
  data: Record<string, string>;
}

const logger = pino({ level: "error" }, pino.destination(2));

/** Mesh reconciles so far in this process, whatever their result. */
async function reconcileCount(): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "skiff_reconcile_total");
  return (metric?.values ?? [])
    .filter((v) => v.labels.controller === "mesh")
    .reduce((sum, v) => sum + Number(v.value), 0);
}
const condition = (mesh: Mesh | undefined, type: string) =>
  mesh?.status?.conditions?.find((c) => c.type === type) as
    { status: string; reason: string; message: string } | undefined;

describe("the Mesh reconciler on a real API server", function () {
  let plane: LocalControlPlane;
  let rest: RestClient;
  let controller: RunningController | undefined;
  // A regenerated root is trusted this long before it signs (a minute outside tests).
  const ROOT_TRUST_PERIOD_MS = 4000;
  const start = async () =>
    (controller = await startMeshController(plane.kubeConfig(), {
      operatorImage: "skiff:test",
      logger,
      rootTrustPeriodMs: ROOT_TRUST_PERIOD_MS,
    }));
  const getMesh = (name = "default") => rest.getIfExists<Mesh>(`/apis/skiff.dev/v1alpha1/meshes/${name}`);
  const caSecret = () => rest.request<Secret>("GET", "/api/v1/namespaces/skiff-system/secrets/skiff-ca");
  const meshEvents = async () =>
    (
      await rest.request<{
        items: { reason: string; type: string; regarding: { kind: string; name: string } }[];
      }>("GET", "/apis/events.k8s.io/v1/namespaces/default/events")
    ).items
      .filter((e) => e.regarding.kind === "Mesh" && e.regarding.name === "default")
      .map((e) => `${e.type}/${e.reason}`);
  const apply = (obj: object) =>
    new ServerSideApplier(plane.kubeConfig(), "test").apply(obj as KubernetesObject);

  before(async () => {
    plane = await LocalControlPlane.start();
    rest = new RestClient(plane.kubeConfig());
    await start();
    await apply({ apiVersion: "skiff.dev/v1alpha1", kind: "Mesh", metadata: { name: "default" }, spec: {} });
  });
  after(async () => {
    try {
      await controller?.stop();
    } finally {
      await plane?.stop(); // a control plane left running would keep mocha from exiting
    }
  });

  it("creates the root CA, the xDS server and a finalizer, and reports them in status", async () => {
    const mesh = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "CertificateAuthorityReady")?.status, "True");
      return m!;
    });
    assert.ok(mesh.metadata.finalizers?.includes("skiff.dev/mesh-cleanup"), "the finalizer");
    assert.equal(mesh.status?.observedGeneration, mesh.metadata.generation);
    // No kube-controller-manager runs here, so the Deployment never reports.
    assert.deepEqual(
      {
        status: condition(mesh, "ControlPlaneAvailable")?.status,
        reason: condition(mesh, "ControlPlaneAvailable")?.reason,
      },
      { status: "Unknown", reason: "DeploymentPending" },
    );
    assert.equal(condition(mesh, "Ready")?.status, "False");
    assert.equal(condition(mesh, "Ready")?.reason, "DeploymentPending");
    assert.equal(mesh.status?.controlPlane?.xdsAddress, "skiff-xds.skiff-system.svc:15010");

    const secret = await caSecret();
    const cert = new X509Certificate(Buffer.from(secret.data["tls.crt"]!, "base64"));
    assert.ok(cert.ca, "a CA certificate");
    assert.equal(mesh.status?.certificateAuthority?.fingerprintSHA256, cert.fingerprint256);

    for (const path of [
      "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      "/api/v1/namespaces/skiff-system/services/skiff-xds",
      "/api/v1/namespaces/skiff-system/serviceaccounts/skiff-xds",
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/skiff-xds",
      "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/skiff-xds",
      "/apis/rbac.authorization.k8s.io/v1/namespaces/skiff-system/roles/skiff-xds",
    ]) {
      const obj = await rest.request<KubernetesObject>("GET", path);
      assert.equal(obj.metadata?.labels?.["skiff.dev/managed-by"], "default", path);
      assert.deepEqual(
        obj.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [["Mesh", "default", mesh.metadata.uid, true]],
        path,
      );
    }
    const deployment = await rest.request<{
      spec: { replicas: number; template: { spec: { containers: { image: string }[] } } };
    }>("GET", "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds");
    assert.equal(deployment.spec.replicas, 2);
    await eventually(async () =>
      assert.ok((await meshEvents()).includes("Normal/CertificateAuthorityCreated"), "the event"),
    );
    assert.equal(deployment.spec.template.spec.containers[0]!.image, "skiff:test");
  });

  it("mirrors the Deployment's Available condition into ControlPlaneAvailable and Ready", async () => {
    // Play the Deployment controller's part, which this control plane does not run.
    await rest.request("PATCH", "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds/status", {
      contentType: "application/merge-patch+json",
      body: {
        status: {
          replicas: 2,
          readyReplicas: 2,
          availableReplicas: 2,
          conditions: [
            {
              type: "Available",
              status: "True",
              reason: "MinimumReplicasAvailable",
              message: "Deployment has minimum availability.",
              lastUpdateTime: "2026-01-01T00:00:00Z",
              lastTransitionTime: "2026-01-01T00:00:00Z",
            },
          ],
        },
      },
    });
    const mesh = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "Ready")?.status, "True");
      return m!;
    });
    assert.equal(condition(mesh, "ControlPlaneAvailable")?.reason, "MinimumReplicasAvailable");
    assert.equal(mesh.status?.controlPlane?.readyReplicas, 2);
  });

  it("writes the trust bundle and bootstrap into namespaces that gain the label, and removes them when it goes", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "books", labels: { "skiff.dev/injection": "enabled" } },
    });
    const bundle = await eventually(() =>
      rest.request<ConfigMap>("GET", "/api/v1/namespaces/books/configmaps/skiff-trust-bundle"),
    );
    const secret = await caSecret();
    assert.equal(bundle.data["root-cert.pem"], Buffer.from(secret.data["ca.crt"]!, "base64").toString());
    const bootstrap = await rest.request<ConfigMap>(
      "GET",
      "/api/v1/namespaces/books/configmaps/skiff-envoy-bootstrap",
    );
    const envoy = JSON.parse(bootstrap.data["envoy.json"]!);
    // Envoy dials the sidecar's agent, which dials skiff-xds.skiff-system.svc (the injector passes that).
    assert.equal(
      envoy.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.pipe
        .path,
      "/var/run/skiff/xds.sock",
    );
    assert.deepEqual(
      envoyViolations("envoy.config.bootstrap.v3.Bootstrap", bootstrap.data["envoy.json"]!),
      [],
    );
    await eventually(async () => assert.equal((await getMesh())?.status?.meshedNamespaces, 1));

    await rest.request("PATCH", "/api/v1/namespaces/books", {
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { "skiff.dev/injection": null } } },
    });
    await eventually(async () => {
      assert.equal(
        await rest.getIfExists("/api/v1/namespaces/books/configmaps/skiff-trust-bundle"),
        undefined,
      );
      assert.equal(
        await rest.getIfExists("/api/v1/namespaces/books/configmaps/skiff-envoy-bootstrap"),
        undefined,
      );
    });
  });

  it("repairs a deleted generated object but never regenerates the CA, across a restart", async () => {
    const before = (await caSecret()).data;
    await controller!.stop();
    await rest.request("DELETE", "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds");
    await start();
    await eventually(() =>
      rest.request("GET", "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds"),
    );
    assert.deepEqual((await caSecret()).data, before);
  });

  it("re-creates every kind of generated object promptly after it is deleted", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "drift", labels: { "skiff.dev/injection": "enabled" } },
    });
    await eventually(() => rest.request("GET", "/api/v1/namespaces/drift/configmaps/skiff-envoy-bootstrap"));
    const rbac = "rbac.authorization.k8s.io/v1";
    const generated: ObjectRef[] = [
      { apiVersion: "v1", kind: "ServiceAccount", namespace: "skiff-system", name: "skiff-xds" },
      { apiVersion: "v1", kind: "Service", namespace: "skiff-system", name: "skiff-xds" },
      { apiVersion: "apps/v1", kind: "Deployment", namespace: "skiff-system", name: "skiff-xds" },
      { apiVersion: rbac, kind: "Role", namespace: "skiff-system", name: "skiff-xds" },
      { apiVersion: rbac, kind: "RoleBinding", namespace: "skiff-system", name: "skiff-xds" },
      { apiVersion: rbac, kind: "ClusterRole", name: "skiff-xds" },
      { apiVersion: rbac, kind: "ClusterRoleBinding", name: "skiff-xds" },
      { apiVersion: "v1", kind: "ConfigMap", namespace: "drift", name: "skiff-trust-bundle" },
      { apiVersion: "v1", kind: "ConfigMap", namespace: "drift", name: "skiff-envoy-bootstrap" },
    ];
    // Far below the 10-minute resync: only a watch on the kind brings it back this fast.
    for (const ref of generated) await deleteAndAwaitRecreation(plane.kubeConfig(), ref, 15_000);

    await rest.request("PATCH", "/api/v1/namespaces/drift", {
      contentType: "application/merge-patch+json",
      body: { metadata: { labels: { "skiff.dev/injection": null } } },
    });
    await eventually(async () => assert.equal((await getMesh())?.status?.meshedNamespaces, 0));
  });

  it("reports an edited CA Secret and does not replace it", async () => {
    const original = (await caSecret()).data;
    const stranger = await createRootCa({ trustDomain: "other", validityMs: 3600_000, now: new Date() });
    await rest.request("PATCH", "/api/v1/namespaces/skiff-system/secrets/skiff-ca", {
      contentType: "application/merge-patch+json",
      body: { data: { "tls.key": Buffer.from(stranger.keyPem).toString("base64") } },
    });
    const mesh = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "CertificateAuthorityReady")?.reason, "KeyMismatch");
      return m!;
    });
    assert.equal(condition(mesh, "Ready")?.reason, "KeyMismatch");
    await eventually(async () =>
      assert.ok((await meshEvents()).includes("Warning/KeyMismatch"), "the event"),
    );
    assert.equal(
      (await caSecret()).data["tls.key"],
      Buffer.from(stranger.keyPem).toString("base64"),
      "left as the user made it",
    );

    await rest.request("PATCH", "/api/v1/namespaces/skiff-system/secrets/skiff-ca", {
      contentType: "application/merge-patch+json",
      body: { data: { "tls.key": original["tls.key"] } },
    });
    await eventually(async () =>
      assert.equal(condition(await getMesh(), "CertificateAuthorityReady")?.status, "True"),
    );
  });

  it("treats a deleted CA Secret as an incident: no new root until asked, then one trusted beside the lost root before it signs", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "vault", labels: { "skiff.dev/injection": "enabled" } },
    });
    const lostRoot = Buffer.from((await caSecret()).data["tls.crt"]!, "base64").toString();
    const lost = new X509Certificate(lostRoot).fingerprint256;
    const vaultBundle = async () =>
      (await rest.request<ConfigMap>("GET", "/api/v1/namespaces/vault/configmaps/skiff-trust-bundle")).data[
        "root-cert.pem"
      ]!;
    await eventually(async () => {
      assert.equal((await getMesh())?.status?.certificateAuthority?.fingerprintSHA256, lost);
      assert.equal(await vaultBundle(), lostRoot);
    });

    await rest.request("DELETE", "/api/v1/namespaces/skiff-system/secrets/skiff-ca");
    const incident = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "CertificateAuthorityReady")?.reason, "CASecretMissing");
      return m!;
    });
    assert.equal(condition(incident, "CertificateAuthorityReady")?.status, "False");
    assert.equal(condition(incident, "Ready")?.reason, "CASecretMissing");
    const message = condition(incident, "CertificateAuthorityReady")!.message;
    assert.ok(message.includes(lost), message);
    assert.ok(message.includes("skiff.dev/regenerate-ca"), message);
    assert.equal(
      incident.status?.certificateAuthority?.fingerprintSHA256,
      lost,
      "the lost root stays on record",
    );

    // A request that does not name the lost root changes nothing.
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default", annotations: { "skiff.dev/regenerate-ca": "not-the-lost-root" } },
      spec: { controlPlane: { replicas: 3 } },
    });
    await eventually(async () =>
      assert.match(condition(await getMesh(), "CertificateAuthorityReady")!.message, /not-the-lost-root/),
    );
    assert.equal(await rest.getIfExists("/api/v1/namespaces/skiff-system/secrets/skiff-ca"), undefined);
    assert.equal(await vaultBundle(), lostRoot, "workloads keep trusting the lost root meanwhile");

    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default", annotations: { "skiff.dev/regenerate-ca": lost } },
      spec: { controlPlane: { replicas: 3 } },
    });
    const staged = await eventually(caSecret);
    const newRoot = Buffer.from(staged.data["tls.crt"]!, "base64").toString();
    assert.notEqual(new X509Certificate(newRoot).fingerprint256, lost, "a new root");
    assert.deepEqual(
      certificatePems(Buffer.from(staged.data["ca.crt"]!, "base64").toString()),
      certificatePems(lostRoot + newRoot),
      "trusted beside the lost root, which a meshed namespace's trust bundle still held",
    );
    const signsFrom = Date.parse(staged.metadata!.annotations!["skiff.dev/signs-from"]!);
    assert.ok(
      signsFrom > Date.parse(`${staged.metadata!.creationTimestamp}`),
      "signs later than it is created",
    );
    await eventually(async () =>
      assert.ok((await meshEvents()).includes("Normal/NewRootStaged"), "the event"),
    );
    await eventually(async () =>
      assert.deepEqual(certificatePems(await vaultBundle()), certificatePems(lostRoot + newRoot)),
    );

    const recovered = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "CertificateAuthorityReady")?.status, "True");
      return m!;
    }, 60_000);
    assert.equal(
      recovered.status?.certificateAuthority?.fingerprintSHA256,
      new X509Certificate(newRoot).fingerprint256,
    );
    const becameReady = Date.parse(
      (condition(recovered, "CertificateAuthorityReady") as { lastTransitionTime: string } | undefined)!
        .lastTransitionTime,
    );
    assert.ok(becameReady >= Math.floor(signsFrom / 1000) * 1000, "ready only once the new root signs");
    assert.equal(
      (await caSecret()).metadata!.resourceVersion,
      staged.metadata!.resourceVersion,
      "never updated",
    );
  });

  it("adopts a CA Secret that status does not record yet, as after a crash between creating it and writing status", async () => {
    const before = await caSecret();
    await controller!.stop();
    await rest.request("PATCH", "/apis/skiff.dev/v1alpha1/meshes/default/status", {
      contentType: "application/merge-patch+json",
      body: { status: { certificateAuthority: null } },
    });
    assert.equal((await getMesh())?.status?.certificateAuthority, undefined);
    await start();
    await eventually(async () =>
      assert.equal(
        (await getMesh())?.status?.certificateAuthority?.fingerprintSHA256,
        new X509Certificate(Buffer.from(before.data["tls.crt"]!, "base64")).fingerprint256,
      ),
    );
    assert.equal((await caSecret()).metadata!.resourceVersion, before.metadata!.resourceVersion);
  });

  it("writes nothing on a reconcile that has nothing to do", async () => {
    const paths = [
      "/apis/skiff.dev/v1alpha1/meshes/default",
      "/api/v1/namespaces/skiff-system/secrets/skiff-ca",
      "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      "/api/v1/namespaces/skiff-system/services/skiff-xds",
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/skiff-xds",
    ];
    const versions = () =>
      Promise.all(
        paths.map(async (p) => (await rest.request<KubernetesObject>("GET", p)).metadata!.resourceVersion),
      );
    // Let the previous tests' changes settle: two reads a second apart agree.
    const before = await eventually(async () => {
      const first = await versions();
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await versions(), first);
      return first;
    });
    const reconciles = await reconcileCount();
    // A restart resyncs everything: every Mesh is reconciled again.
    await controller!.stop();
    await start();
    await eventually(async () =>
      assert.ok((await reconcileCount()) > reconciles, "reconciled after the restart"),
    );
    assert.deepEqual(await versions(), before);
  });

  it("propagates a spec change", async () => {
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { controlPlane: { replicas: 3 } },
    });
    await eventually(async () => {
      const d = await rest.request<{ spec: { replicas: number } }>(
        "GET",
        "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      );
      assert.equal(d.spec.replicas, 3);
      const m = await getMesh();
      assert.equal(m?.status?.observedGeneration, m?.metadata.generation);
    });
  });

  it("reports sidecar and xDS server resources that admission would refuse, without failing, and leaves what it made as it was", async () => {
    // Stored while the validating webhook was down (it is not running here): before, the
    // reconcile threw on rendering the bootstrap, and kept throwing.
    const BOOTSTRAP = "/api/v1/namespaces/heap/configmaps/skiff-envoy-bootstrap";
    const DEPLOYMENT = "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds";
    const heapSize = (cm: ConfigMap) =>
      JSON.parse(cm.data["envoy.json"]!).overload_manager.resource_monitors[0].typed_config
        .max_heap_size_bytes;
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "heap", labels: { "skiff.dev/injection": "enabled" } },
    });
    const before = await eventually(() => rest.request<ConfigMap>("GET", BOOTSTRAP));
    const deploymentBefore = await rest.request<{ spec: unknown }>("GET", DEPLOYMENT);
    const withResources = (proxy: object, controlPlane: object = {}) =>
      apply({
        apiVersion: "skiff.dev/v1alpha1",
        kind: "Mesh",
        metadata: { name: "default" },
        spec: {
          controlPlane: { replicas: 3, ...controlPlane },
          injection: { proxy: { resources: { limits: proxy } } },
        },
      });
    for (const memory of ["0", "1Ei"]) {
      await withResources({ memory }, { resources: { limits: { cpu: "0" } } });
      const m = await eventually(async () => {
        const m = await getMesh();
        assert.equal(m?.status?.observedGeneration, m?.metadata.generation);
        assert.equal(condition(m, "InjectionConfigured")?.reason, "InvalidSidecarSettings");
        return m!;
      });
      assert.equal(condition(m, "InjectionConfigured")?.status, "False");
      assert.match(
        condition(m, "InjectionConfigured")!.message,
        new RegExp(`^spec\\.injection\\.proxy\\.resources\\.limits\\.memory: must be .*, not "${memory}"`),
      );
      assert.equal(condition(m, "ControlPlaneAvailable")?.reason, "InvalidResources");
      assert.match(
        condition(m, "ControlPlaneAvailable")!.message,
        /^spec\.controlPlane\.resources\.limits\.cpu: /,
      );
      assert.equal(condition(m, "Ready")?.reason, "InvalidResources", "not ReconcileFailed");
      // The reconcile that wrote this status has applied and pruned whatever it was going to.
      assert.deepEqual((await rest.request<ConfigMap>("GET", BOOTSTRAP)).data, before.data);
      assert.deepEqual(
        (await rest.request<{ spec: unknown }>("GET", DEPLOYMENT)).spec,
        deploymentBefore.spec,
      );
    }

    await withResources({ memory: "256Mi" });
    await eventually(async () => {
      const m = await getMesh();
      assert.equal(m?.status?.observedGeneration, m?.metadata.generation);
      assert.equal(condition(m, "InjectionConfigured")?.status, "True");
      assert.equal(heapSize(await rest.request<ConfigMap>("GET", BOOTSTRAP)), String(256 * 2 ** 20));
    });
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { controlPlane: { replicas: 3 } },
    });
    await rest.request("DELETE", "/api/v1/namespaces/heap");
  });

  it("says so in Ready when a reconcile keeps failing, and clears when it recovers", async () => {
    // An admission policy refuses the xDS Deployment, as a stricter cluster policy or a quota might.
    const policy = "test-refuses-skiff-xds";
    const admission = "/apis/admissionregistration.k8s.io/v1";
    await apply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: policy },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ["apps"],
              apiVersions: ["v1"],
              operations: ["CREATE", "UPDATE"],
              resources: ["deployments"],
            },
          ],
        },
        validations: [
          {
            expression: "object.metadata.name != 'skiff-xds'",
            message: "the test refuses the xDS Deployment",
          },
        ],
      },
    });
    await apply({
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: policy },
      spec: { policyName: policy, validationActions: ["Deny"] },
    });
    // The policy takes effect once the API server has loaded it: a dry run says when.
    await eventually(async () => {
      await assert.rejects(
        rest.request("POST", "/apis/apps/v1/namespaces/default/deployments", {
          query: { dryRun: "All" },
          body: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "skiff-xds" },
            spec: {
              selector: { matchLabels: { app: "x" } },
              template: {
                metadata: { labels: { app: "x" } },
                spec: { containers: [{ name: "x", image: "x" }] },
              },
            },
          },
        }),
        /test refuses/,
      );
    });
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { controlPlane: { replicas: 4 } },
    });
    const failing = await eventually(async () => {
      const m = await getMesh();
      assert.equal(condition(m, "Ready")?.reason, "ReconcileFailed");
      return m!;
    });
    assert.equal(condition(failing, "Ready")?.status, "False");
    assert.match(condition(failing, "Ready")!.message, /skiff-xds.*the test refuses the xDS Deployment/s);
    assert.equal(condition(failing, "CertificateAuthorityReady")?.status, "True", "what it knew still holds");

    await rest.request("DELETE", `${admission}/validatingadmissionpolicybindings/${policy}`);
    await rest.request("DELETE", `${admission}/validatingadmissionpolicies/${policy}`);
    // Retries back off; a change to the Mesh brings the next one forward.
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default", annotations: { "test/poke": "1" } },
      spec: { controlPlane: { replicas: 4 } },
    });
    await eventually(async () => {
      const m = await getMesh();
      assert.notEqual(condition(m, "Ready")?.reason, "ReconcileFailed");
      assert.equal(m?.status?.observedGeneration, m?.metadata.generation);
      const d = await rest.request<{ spec: { replicas: number } }>(
        "GET",
        "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      );
      assert.equal(d.spec.replicas, 4);
    }, 30_000);
  });

  it("gives a second Mesh Ready=False with reason MeshAlreadyExists, and generates nothing for it", async () => {
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "second" },
      spec: { rootNamespace: "skiff-second" },
    });
    const second = await eventually(async () => {
      const m = await getMesh("second");
      assert.equal(condition(m, "Ready")?.reason, "MeshAlreadyExists");
      return m!;
    });
    assert.equal(condition(second, "Ready")?.status, "False");
    assert.match(condition(second, "Ready")!.message, /Mesh default is this cluster's mesh/);
    assert.equal(second.metadata.finalizers, undefined);
    assert.equal(await rest.getIfExists("/api/v1/namespaces/skiff-second"), undefined);
    const clusterRole = await rest.request<KubernetesObject>(
      "GET",
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/skiff-xds",
    );
    assert.equal(clusterRole.metadata?.labels?.["skiff.dev/managed-by"], "default", "still the first Mesh's");
    await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/second");
    await eventually(async () => assert.equal(await getMesh("second"), undefined));
  });

  it("removes what it generated when the Mesh is deleted, keeping the CA", async () => {
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "books", labels: { "skiff.dev/injection": "enabled" } },
    });
    await eventually(() => rest.request("GET", "/api/v1/namespaces/books/configmaps/skiff-trust-bundle"));
    await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default");
    await eventually(async () => assert.equal(await getMesh(), undefined));
    for (const path of [
      "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      "/apis/rbac.authorization.k8s.io/v1/clusterroles/skiff-xds",
      "/api/v1/namespaces/books/configmaps/skiff-trust-bundle",
    ]) {
      assert.equal(await rest.getIfExists(path), undefined, path);
    }
    assert.ok(await caSecret(), "the CA survives, so a recreated Mesh keeps its identity");
  });

  it("says so when cert-manager is asked for but not installed", async () => {
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: {
        rootNamespace: "skiff-cm",
        certificateAuthority: { certManager: { issuerRef: { name: "mesh-ca" } } },
        injection: { namespaceSelector: { matchLabels: { "never-matches": "x" } } },
      },
    });
    await eventually(async () => {
      const ca = condition(await getMesh("default"), "CertificateAuthorityReady");
      assert.equal(ca?.reason, "CertManagerNotInstalled");
      assert.equal(ca?.status, "False");
    });
    await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default");
    await eventually(async () => assert.equal(await getMesh("default"), undefined));
  });
});
