/**
 * Root hooks of the end-to-end suite: one local cluster for every test (a
 * real API server and kube-controller-manager, the operator with its
 * webhooks, a local node running the generated xDS server and the tests'
 * Pods with Envoy sidecars). Each test works in namespaces of its own.
 */
import { startMeshCluster, stopMeshCluster } from "./kit.js";

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    this.timeout(600_000);
    await startMeshCluster();
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    await stopMeshCluster();
  },
};
