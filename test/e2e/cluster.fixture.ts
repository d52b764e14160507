/**
 * Root hooks of the end-to-end suite: one local cluster for every test (a
 * real API server and kube-controller-manager, the operator with its
 * webhooks, a local node running the generated xDS server and the tests'
 * Pods with Envoy sidecars). Each test works in namespaces of its own.
 */
import { readFileSync } from "node:fs";
import { CLUSTER_LOG, startMeshCluster, stopMeshCluster } from "./kit.js";

/** How much of the cluster's log a failed test prints under its report. */
const LOG_LINES_ON_FAILURE = 40;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(600_000);
    process.stderr.write(`the cluster logs to ${CLUSTER_LOG}\n`);
    await startMeshCluster();
  },
  afterEach(this: Mocha.Context) {
    if (this.currentTest?.state !== "failed") return;
    let tail = "(no log)";
    try {
      tail = readFileSync(CLUSTER_LOG, "utf8").trimEnd().split("\n").slice(-LOG_LINES_ON_FAILURE).join("\n");
    } catch {
      // nothing logged yet
    }
    process.stderr.write(`the cluster's last ${LOG_LINES_ON_FAILURE} log lines (${CLUSTER_LOG}):\n${tail}\n`);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    await stopMeshCluster();
  },
};
