import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { KubernetesObject } from "@kubernetes/client-node";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { applyMesh, spawnOperator } from "../support/operator.js";
import { eventually } from "./kubectl.js";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);

/** A small seeded generator, so a failing sequence of kill points can be replayed with CRASH_SEED. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Secret extends KubernetesObject {
  data: Record<string, string>;
}

describe("the operator killed at random points", function () {
  this.timeout(600_000);
  let plane: LocalControlPlane;
  let operator: ChildProcess | undefined;
  const startOperator = () =>
    (operator = spawnOperator(plane.kubeconfigPath, [
      "--http-address",
      "127.0.0.1:0",
      "--leader-elect=false",
      // This test is about the reconciler; the webhooks would only delay it.
      "--webhook-address=",
    ]));

  before(async () => (plane = await LocalControlPlane.start()));
  after(async () => {
    try {
      operator?.kill("SIGKILL");
    } finally {
      await plane?.stop();
    }
  });

  it(`converges after ${KILLS} SIGKILLs mid-reconcile, and never regenerates the CA`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    const next = random(seed);
    const admin = new ServerSideApplier(plane.kubeConfig(), "test");
    const rest = new RestClient(plane.kubeConfig());
    const namespaces = ["alpha", "beta", "gamma"];
    let ca: { resourceVersion: string; data: Record<string, string> } | undefined;

    for (let kill = 0; kill < KILLS; kill++) {
      // Change what the operator must do, so that each run has work to be interrupted in.
      const labelled = namespaces.filter(() => next() < 0.5);
      for (const ns of namespaces) {
        await admin.apply({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: {
            name: ns,
            labels: { "skiff.dev/injection": labelled.includes(ns) ? "enabled" : "disabled" },
          },
        } as KubernetesObject);
      }
      await applyMesh(admin, { controlPlane: { replicas: 1 + kill } });

      const child = startOperator();
      await new Promise((r) => setTimeout(r, 500 + next() * 3500)); // from start-up into the first reconciles, on a busy 2-core machine too
      child.kill("SIGKILL");
      await once(child, "exit");

      const secret = await rest.getIfExists<Secret & { metadata: { resourceVersion: string } }>(
        "/api/v1/namespaces/skiff-system/secrets/skiff-ca",
      );
      if (ca && secret) {
        assert.equal(
          secret.metadata.resourceVersion,
          ca.resourceVersion,
          `the CA changed after kill ${kill} (seed ${seed})`,
        );
        assert.deepEqual(secret.data, ca.data);
      }
      if (!ca && secret) ca = { resourceVersion: secret.metadata.resourceVersion, data: secret.data };
    }

    // One last, uninterrupted run must reach the right state.
    startOperator();
    const labelled = await Promise.all(
      namespaces.map(async (ns) => {
        const obj = await rest.request<KubernetesObject>("GET", `/api/v1/namespaces/${ns}`);
        return obj.metadata?.labels?.["skiff.dev/injection"] === "enabled" ? ns : undefined;
      }),
    );
    await eventually(async () => {
      const mesh = await rest.request<{
        metadata: { generation: number };
        status?: { observedGeneration?: number; meshedNamespaces?: number };
      }>("GET", "/apis/skiff.dev/v1alpha1/meshes/default");
      assert.equal(mesh.status?.observedGeneration, mesh.metadata.generation, `seed ${seed}`);
      assert.equal(mesh.status?.meshedNamespaces, labelled.filter(Boolean).length);
      const deployment = await rest.request<{ spec: { replicas: number } }>(
        "GET",
        "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      );
      assert.equal(deployment.spec.replicas, KILLS);
      for (const ns of namespaces) {
        const bundle = await rest.getIfExists(`/api/v1/namespaces/${ns}/configmaps/skiff-trust-bundle`);
        assert.equal(bundle !== undefined, labelled.includes(ns), `${ns} (seed ${seed})`);
      }
    }, 60_000);
    const secret = await rest.request<Secret & { metadata: { resourceVersion: string } }>(
      "GET",
      "/api/v1/namespaces/skiff-system/secrets/skiff-ca",
    );
    assert.ok(ca, "the CA was created during the kills");
    assert.equal(
      secret.metadata.resourceVersion,
      ca.resourceVersion,
      `the CA was regenerated (seed ${seed})`,
    );
  });
});
