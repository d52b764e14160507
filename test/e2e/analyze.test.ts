/**
 * `skiff analyze` on a running mesh (skiff dev's cluster: the operator with
 * its injector, the xDS server, real Pods on the local node). Pods the real
 * injector gave sidecars must give no finding; a Pod that was running before
 * its namespace got the injection label is SKF0402, the case the analyzer is
 * for, which no fixture can show as faithfully.
 */
import assert from "node:assert/strict";
import type { Finding } from "../../src/analyze/finding.js";
import { runSkiff } from "../support/skiff-cli.js";
import {
  apply,
  clientPod,
  deleteNamespace,
  fortioDeployment,
  meshCluster,
  meshNamespace,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  waitPodsReady,
} from "./kit.js";

const NS = "e2e-analyze";

async function analyze(): Promise<{ code: number; findings: string[] }> {
  const run = await runSkiff(
    "analyze",
    "--kubeconfig",
    meshCluster().plane.kubeconfigPath,
    "-n",
    NS,
    "-o",
    "json",
  );
  assert.equal(run.stderr, "");
  const { findings } = JSON.parse(run.stdout) as { findings: Finding[] };
  return {
    code: run.code,
    findings: findings.map((f) => `${f.code} ${f.object.kind}/${f.object.name} ${f.field}`),
  };
}

describe("skiff analyze on a running mesh", function () {
  before(async function () {
    skipUnlessSupported(this);
    // Not labelled yet: its first Pod gets no sidecar.
    await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }]);
    await apply([clientPod(NS, "before-label")]);
    await waitPodsReady(NS, 1);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "web"),
      service(NS, "web", [{ name: "http", port: 8080 }]),
      clientPod(NS, "client"),
    ]);
    await waitPodsReady(NS, 3);
  });
  after(async () => {
    await deleteNamespace(NS).catch(() => {});
  });

  it("finds only the Pod that predates the label; injected Pods, their Service and the Mesh are fine", async () => {
    const { code, findings } = await analyze();
    assert.deepEqual(findings, ["SKF0402 Pod/before-label spec.containers"]);
    assert.equal(code, 1);
  });

  it("finds nothing once that Pod is gone", async () => {
    await rest().request("DELETE", `/api/v1/namespaces/${NS}/pods/before-label?gracePeriodSeconds=0`);
    await waitFor(meshCluster().kubeConfig, "v1", "Pod", NS, (pods) =>
      pods.every((p) => p.metadata?.name !== "before-label"),
    );
    assert.deepEqual(await analyze(), { code: 0, findings: [] });
  });
});
