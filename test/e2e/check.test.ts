/**
 * `skiff check` against the end-to-end cluster (skiff dev's: a real API
 * server and kube-controller-manager, the operator with its webhooks, the
 * xDS server the Mesh generates running on the local node). Everything is
 * up here, so every check passes; the only warning is that this operator
 * runs outside the cluster, with no Deployment of its own. The failing
 * cases are in test/integration/check.test.ts.
 */
import assert from "node:assert/strict";
import { runSkiff } from "../support/skiff-cli.js";
import { deleteNamespace, meshCluster, meshNamespace, rest, skipUnlessSupported } from "./kit.js";

const NS = "e2e-check";

interface Check {
  id: string;
  status: "ok" | "warning" | "fail";
  detail?: string;
}

describe("skiff check on a running mesh", function () {
  before(async function () {
    skipUnlessSupported(this);
    // A meshed namespace, so that there is a trust bundle to read.
    await meshNamespace(NS);
  });
  after(async () => {
    await deleteNamespace(NS).catch(() => {});
  });

  it("passes every check but the warnings this setup explains: CRDs, operator leader, webhooks, Mesh Ready, xDS Available, CA", async () => {
    const kubeconfig = meshCluster().plane.kubeconfigPath;
    const run = await runSkiff("check", "--kubeconfig", kubeconfig, "--wait", "60s", "-o", "json");
    assert.equal(run.code, 0, run.stdout);
    const report = JSON.parse(run.stdout) as {
      success: boolean;
      groups: { name: string; checks: Check[] }[];
    };
    assert.equal(report.success, true);
    assert.deepEqual(
      report.groups.map((g) => g.name),
      [
        "kubernetes-api",
        "kubernetes-version",
        "skiff-existence",
        "skiff-operator",
        "skiff-webhooks",
        "skiff-control-plane",
        "skiff-identity",
      ],
    );
    const checks = report.groups.flatMap((g) => g.checks);
    // The operator runs in the test's process, not as a Deployment. The API
    // server's proxy to the xDS Pod may not get through: in this project's
    // sandbox the API server has no route to the local node's Pods, and an
    // egress proxy answers for them (403 resolve_deny); that is a warning.
    const notOk = checks.filter((c) => c.status !== "ok");
    const leader = checks.find((c) => c.id === "operator-leader")!.detail!.replace("held by ", "");
    assert.deepEqual(notOk[0], {
      ...notOk[0],
      id: "operator-deployment",
      status: "warning",
      detail: `there is no Deployment skiff-system/skiff-operator, but ${leader} leads: the operator runs outside the cluster (as skiff dev runs it)`,
    });
    assert.deepEqual(
      notOk.slice(1).map((c) => [c.id, c.status]),
      checks.some((c) => c.id === "xds-serving" && c.status === "warning")
        ? [["xds-serving", "warning"]]
        : [],
    );
    for (const id of [
      "mesh-ready",
      "xds-deployment",
      "xds-endpoints",
      "webhook-cabundle",
      "ca-expiry",
      "trust-anchors",
    ])
      assert.ok(
        checks.some((c) => c.id === id && c.status === "ok"),
        id,
      );
    assert.match(checks.find((c) => c.id === "xds-endpoints")!.detail!, /^1 ready$/);

    const text = await runSkiff("check", "--kubeconfig", kubeconfig);
    assert.equal(text.code, 0, text.stdout);
    assert.match(text.stdout, /^✔ the Mesh default is Ready$/m);
    assert.match(text.stdout, /\nStatus check results are ✔\n$/);
  });

  it("--wait: with the xDS Deployment deleted, says what fails and waits until the operator has put it back and it is Available", async () => {
    const deployment = "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds";
    const before = await rest().request<{ metadata: { uid: string } }>("GET", deployment);
    await rest().request("DELETE", deployment);
    const run = await runSkiff("check", "--kubeconfig", meshCluster().plane.kubeconfigPath, "--wait", "120s");
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /^skiff check: waiting, \d+ failing: .*the xDS server Deployment skiff-system\/skiff-xds is Available/m,
    );
    assert.match(run.stdout, /^✔ the xDS server Deployment skiff-system\/skiff-xds is Available$/m);
    const after = await rest().request<{ metadata: { uid: string } }>("GET", deployment);
    assert.notEqual(after.metadata.uid, before.metadata.uid);
  });
});
