import assert from "node:assert/strict";
import { pino } from "pino";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { startOperator, type RunningOperator } from "../../src/operator/operator.js";
import { applyMesh, meshConditionStatus } from "../support/operator.js";
import { eventually } from "./kubectl.js";

const logger = pino({ level: "error" }, pino.destination(2));

describe("skiff operator", () => {
  let plane: LocalControlPlane;
  const operators: RunningOperator[] = [];
  const start = async () => {
    const operator = await startOperator(plane.kubeConfig(), {
      logger,
      image: "skiff:test",
      httpAddress: "127.0.0.1:0",
      leaderElection: true,
      leaseNamespace: "kube-system",
    });
    operators.push(operator);
    return operator;
  };

  before(async () => (plane = await LocalControlPlane.start()));
  after(async () => {
    try {
      await Promise.all(operators.map((o) => o.stop()));
    } finally {
      await plane?.stop(); // a control plane left running would keep mocha from exiting
    }
  });

  it("reconciles only on the leader, serves probes and metrics on every replica, and hands over on stop", async () => {
    const first = await start();
    await eventually(async () => assert.ok(first.isLeader()));
    const second = await start();

    await applyMesh(new ServerSideApplier(plane.kubeConfig(), "test"));
    const rest = new RestClient(plane.kubeConfig());
    await eventually(async () => {
      assert.equal(await meshConditionStatus(rest, "CertificateAuthorityReady"), "True");
    });
    assert.equal(second.isLeader(), false);

    for (const operator of [first, second]) {
      const base = `http://127.0.0.1:${operator.httpPort}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200, "a standby is ready too");
    }
    // Counted when the reconcile returns, a moment after its status write (events are recorded in between).
    await eventually(async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${first.httpPort}/metrics`)).text();
      assert.match(metrics, /^skiff_reconcile_total\{controller="mesh",result="requeue"\} [1-9]/m);
    });

    await first.stop();
    operators.splice(operators.indexOf(first), 1);
    await eventually(async () => assert.ok(second.isLeader()), 15_000);
  });
});
