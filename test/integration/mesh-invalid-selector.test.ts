import assert from "node:assert/strict";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { pino } from "pino";
import type { Mesh } from "../../src/api/v1alpha1/generated/mesh.js";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { installCrds, readCrds } from "../../src/controlplane/crds.js";
import { startMeshController, type RunningController } from "../../src/controllers/mesh/controller.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { withoutLabelRules } from "../support/without-label-rules.js";
import { eventually } from "./kubectl.js";

/**
 * A Mesh injection selector that is not a valid selector can never match a
 * Namespace. Before the schema refused it, such a selector turned injection
 * off everywhere and deleted every namespace's bootstrap while the Mesh said
 * Ready. Today's schema refuses it, so the object gets in the way such
 * objects really do: stored under a CRD without the label rules, which was
 * then upgraded (the API server keeps serving it, and ratchets it on
 * updates). The reconciler must say so and leave the namespaces alone.
 */
const BOOTSTRAP = "/api/v1/namespaces/books/configmaps/skiff-envoy-bootstrap";
const TRUST_BUNDLE = "/api/v1/namespaces/books/configmaps/skiff-trust-bundle";

describe("a Mesh whose injection selector is not a valid selector", function () {
  this.timeout(120_000);
  const logger = pino({ level: "error" }, pino.destination(2));
  let plane: LocalControlPlane;
  let rest: RestClient;
  let controller: RunningController | undefined;
  const apply = (obj: object) =>
    new ServerSideApplier(plane.kubeConfig(), "test").apply(obj as KubernetesObject, { force: true });

  before(async () => {
    plane = await LocalControlPlane.start();
    rest = new RestClient(plane.kubeConfig());
    controller = await startMeshController(plane.kubeConfig(), { operatorImage: "skiff:test", logger });
    await apply({ apiVersion: "skiff.dev/v1alpha1", kind: "Mesh", metadata: { name: "default" }, spec: {} });
    await apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "books", labels: { "skiff.dev/injection": "enabled" } },
    });
    await eventually(() => rest.request("GET", BOOTSTRAP));
  });
  after(async () => {
    try {
      await controller?.stop();
    } finally {
      await plane?.stop();
    }
  });

  it("is reported in the Mesh's status, and every namespace keeps its bootstrap", async () => {
    const crds = await readCrds(join(repositoryRoot(), "crds"));
    const current = crds.find((c) => c.metadata?.name === "meshes.skiff.dev")!;
    await installCrds(plane.kubeConfig(), [withoutLabelRules(current)]);
    const invalid = { matchLabels: { "skiff.dev/injection enabled": "true" } };
    await eventually(() =>
      apply({
        apiVersion: "skiff.dev/v1alpha1",
        kind: "Mesh",
        metadata: { name: "default" },
        spec: { injection: { namespaceSelector: invalid } },
      }),
    );
    await installCrds(plane.kubeConfig(), [current]);

    const mesh = await eventually(async () => {
      const m = await rest.request<Mesh>("GET", "/apis/skiff.dev/v1alpha1/meshes/default");
      assert.equal(m.status?.observedGeneration, m.metadata.generation);
      return m;
    });
    const conditions = mesh.status?.conditions ?? [];
    const injection = conditions.find((c) => c.type === "InjectionConfigured");
    const ready = conditions.find((c) => c.type === "Ready");
    assert.equal(injection?.status, "False", JSON.stringify(injection));
    assert.equal(injection?.reason, "InvalidNamespaceSelector");
    assert.match(
      injection!.message,
      /spec\.injection\.namespaceSelector\.matchLabels: keys must be label keys/,
    );
    // (Ready carries the first failing condition's reason: here the xDS Deployment, which no controller runs.)
    assert.equal(ready?.status, "False");
    // The reconcile that wrote this status has pruned whatever it was going to.
    assert.ok(await rest.getIfExists(BOOTSTRAP), "the bootstrap is kept");
    assert.ok(await rest.getIfExists(TRUST_BUNDLE), "the trust bundle is kept");
  });

  it("recovers once the selector is fixed", async () => {
    await apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { injection: { namespaceSelector: { matchLabels: { "skiff.dev/injection": "enabled" } } } },
    });
    await eventually(async () => {
      const m = await rest.request<Mesh>("GET", "/apis/skiff.dev/v1alpha1/meshes/default");
      assert.equal(m.status?.observedGeneration, m.metadata.generation);
      const injection = m.status?.conditions?.find((c) => c.type === "InjectionConfigured");
      assert.equal(injection?.status, "True", JSON.stringify(injection));
      assert.equal(m.status?.meshedNamespaces, 1);
    });
    assert.ok(await rest.getIfExists(BOOTSTRAP));
  });
});
