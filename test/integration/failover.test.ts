import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { freePort } from "../../src/controlplane/ports.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { applyMesh, spawnOperator } from "../support/operator.js";
import { eventually } from "./kubectl.js";

interface Replica {
  process: ChildProcess;
  port: number;
}

/** Mesh reconciles a replica has done, from its own /metrics. */
async function reconciles(replica: Replica): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
  return [...text.matchAll(/^skiff_reconcile_total\{controller="mesh",result="[a-z]+"\} (\d+)$/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

describe("two operator replicas", function () {
  this.timeout(120_000);
  let plane: LocalControlPlane;
  const replicas: Replica[] = [];

  async function startReplica(): Promise<Replica> {
    const port = await freePort();
    const child = spawnOperator(plane.kubeconfigPath, ["--http-address", `127.0.0.1:${port}`]);
    const replica = { process: child, port };
    replicas.push(replica);
    await eventually(async () => assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200));
    return replica;
  }

  before(async () => (plane = await LocalControlPlane.start()));
  after(async () => {
    try {
      for (const r of replicas) r.process.kill("SIGKILL");
    } finally {
      await plane?.stop();
    }
  });

  it("reconcile on exactly one replica; when it is killed, the other takes over within the lease duration plus a few seconds", async () => {
    const [a, b] = [await startReplica(), await startReplica()];
    const admin = new ServerSideApplier(plane.kubeConfig(), "test");
    const rest = new RestClient(plane.kubeConfig());
    const setReplicas = (n: number) => applyMesh(admin, { controlPlane: { replicas: n } });
    const deploymentReplicas = async () =>
      (
        await rest.request<{ spec: { replicas: number } }>(
          "GET",
          "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
        )
      ).spec.replicas;

    await setReplicas(1);
    await eventually(async () => assert.equal(await deploymentReplicas(), 1));
    // The Deployment can be written before that reconcile is counted (it finishes with the status).
    const counts = await eventually(async () => {
      const c = await Promise.all([a, b].map(reconciles));
      assert.ok(c.some((n) => n > 0));
      return c;
    });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(
      (await Promise.all([a, b].map(reconciles))).filter((c) => c > 0).length,
      1,
      `reconciles per replica: ${counts.join(", ")}`,
    );
    const [leader, standby] = counts[0]! > 0 ? [a, b] : [b, a];

    leader.process.kill("SIGKILL"); // no release: the standby must wait out the lease
    await once(leader.process, "exit");
    const killedAt = Date.now();
    await setReplicas(2);
    await eventually(async () => assert.equal(await deploymentReplicas(), 2), 40_000);
    const takeover = (Date.now() - killedAt) / 1000;
    await eventually(async () => assert.ok((await reconciles(standby)) > 0)); // counted after the Deployment write
    assert.ok(takeover < 15 + 5, `took ${takeover}s; the lease lasts 15s`);
    console.log(`      takeover after SIGKILL: ${takeover.toFixed(1)} s`);
  });
});
