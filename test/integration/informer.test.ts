import assert from "node:assert/strict";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { Informer, type InformerEvent } from "../../src/k8s/informer.js";
import { controlPlane } from "./controlplane.fixture.js";
import { eventually } from "./kubectl.js";

describe("informer against a real API server", () => {
  const label = `informer-test=${Date.now()}`;
  let core: CoreV1Api;
  let informer: Informer<V1ConfigMap> | undefined;

  const create = (name: string, data: Record<string, string> = {}, labelled = true) =>
    core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name, labels: labelled ? { "informer-test": label.split("=")[1]! } : {} }, data },
    });

  before(() => (core = controlPlane().kubeConfig().makeApiClient(CoreV1Api)));
  afterEach(async () => {
    informer?.stop();
    await core.deleteCollectionNamespacedConfigMap({ namespace: "default", labelSelector: "informer-test" });
  });

  it("lists what matches its selectors, without managedFields, and is synced after start", async () => {
    await create("listed-a");
    await create("listed-b");
    await create("unlabelled", {}, false);
    informer = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      labelSelector: label,
    });
    assert.equal(informer.hasSynced, false);
    await informer.start();
    assert.equal(informer.hasSynced, true);
    assert.deepEqual(
      informer
        .list()
        .map((c) => c.metadata!.name)
        .sort(),
      ["listed-a", "listed-b"],
    );
    const cached = informer.get("default", "listed-a")!;
    assert.equal(cached.metadata!.managedFields, undefined);
    assert.equal(cached.kind, "ConfigMap");
    await core.deleteNamespacedConfigMap({ namespace: "default", name: "unlabelled" });
  });

  it("delivers adds, updates and deletes from the watch", async () => {
    informer = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      labelSelector: label,
    });
    const events: string[] = [];
    informer.on((e) =>
      events.push(`${e.type} ${e.object.metadata!.name} ${JSON.stringify(e.object.data ?? {})}`),
    );
    await informer.start();
    await create("watched", { v: "1" });
    await core.patchNamespacedConfigMap({
      namespace: "default",
      name: "watched",
      body: [{ op: "replace", path: "/data/v", value: "2" }],
    });
    await core.deleteNamespacedConfigMap({ namespace: "default", name: "watched" });
    await eventually(async () => assert.equal(events.length, 3), 10_000);
    assert.deepEqual(events, [
      'add watched {"v":"1"}',
      'update watched {"v":"2"}',
      'delete watched {"v":"2"}',
    ]);
    assert.equal(informer.get("default", "watched"), undefined);
  });

  it("filters by field selector", async () => {
    await create("picked");
    await create("ignored");
    informer = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      fieldSelector: "metadata.name=picked",
    });
    await informer.start();
    assert.deepEqual(
      informer.list().map((c) => c.metadata!.name),
      ["picked"],
    );
  });

  it("re-delivers the cache as updates on resync", async () => {
    await create("resynced");
    informer = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      labelSelector: label,
      resyncMs: 50,
    });
    const updates: InformerEvent<V1ConfigMap>[] = [];
    informer.on((e) => e.type === "update" && updates.push(e));
    await informer.start();
    await eventually(async () => assert.ok(updates.length >= 2), 5_000);
    assert.equal(updates[0]!.object.metadata!.name, "resynced");
  });

  it("resumes a broken watch from the last resourceVersion, missing nothing", async () => {
    informer = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      labelSelector: label,
      rewatchDelayMs: 200,
    });
    const added: string[] = [];
    informer.on((e) => e.type === "add" && added.push(e.object.metadata!.name!));
    await informer.start();
    // Cut the watch connection from our side, as a network failure would.
    await eventually(async () => assert.ok((informer as unknown as { abort?: AbortController }).abort));
    (informer as unknown as { abort: AbortController }).abort.abort();
    await create("while-disconnected");
    await eventually(async () => assert.deepEqual(added, ["while-disconnected"]), 10_000);
    assert.equal(informer.relists, 1, "resumed by watching, not by relisting");
  });

  it("starts nothing when stopped while it lists", async () => {
    const stopped = new Informer<V1ConfigMap>(controlPlane().kubeConfig(), "v1", "ConfigMap", {
      namespace: "default",
      resyncMs: 10,
    });
    const events: string[] = [];
    stopped.on((e) => events.push(e.type));
    const starting = stopped.start();
    stopped.stop();
    await starting;
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(stopped.hasSynced, false);
    assert.deepEqual(
      events.filter((t) => t === "update"),
      [],
      "no resync timer was left running",
    );
  });
});
