import assert from "node:assert/strict";
import { pino } from "pino";
import type { KubernetesObject } from "@kubernetes/client-node";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { startMeshController, type RunningController } from "../../src/controllers/mesh/controller.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { registry } from "../../src/observability/metrics.js";
import { applyMesh, meshConditionStatus } from "../support/operator.js";
import { eventually } from "./kubectl.js";

async function relists(kind: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "skiff_informer_relists_total");
  return (metric?.values ?? [])
    .filter((v) => v.labels.kind === kind)
    .reduce((sum, v) => sum + Number(v.value), 0);
}

/** Compacts etcd's history up to now, so every older resourceVersion is gone (watches from it get 410 Gone). */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const range = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key: Buffer.from("/").toString("base64") }),
  });
  const revision = ((await range.json()) as { header: { revision: string } }).header.revision;
  const compaction = await fetch(`${etcdUrl}/v3/kv/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision, physical: true }),
  });
  assert.equal(compaction.status, 200, await compaction.text());
}

describe("an API server restart with expired watches", () => {
  let plane: LocalControlPlane;
  let controller: RunningController | undefined;

  before(async () => {
    plane = await LocalControlPlane.start();
    controller = await startMeshController(plane.kubeConfig(), {
      operatorImage: "skiff:test",
      logger: pino({ level: "silent" }),
    });
  });
  after(async () => {
    try {
      await controller?.stop();
    } finally {
      await plane?.stop();
    }
  });

  it("ends in convergence, with no update lost", async () => {
    const admin = () => new ServerSideApplier(plane.kubeConfig(), "test");
    const rest = () => new RestClient(plane.kubeConfig());
    await applyMesh(admin());
    await eventually(async () => {
      assert.equal(await meshConditionStatus(rest(), "CertificateAuthorityReady"), "True");
    });
    const before = await relists("Namespace");

    await compactEtcd(plane.etcdUrl);
    await plane.restartApiServer();
    // Written as soon as the server is back: the informers are still reconnecting, so only a relist can deliver it.
    await admin().apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "after-restart", labels: { "skiff.dev/injection": "enabled" } },
    } as KubernetesObject);

    await eventually(
      () => rest().request("GET", "/api/v1/namespaces/after-restart/configmaps/skiff-trust-bundle"),
      60_000,
    );
    assert.ok((await relists("Namespace")) > before, "the Namespace informer relisted after 410 Gone");
  });
});
