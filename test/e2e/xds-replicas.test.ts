import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import {
  apply,
  clientPod,
  condition,
  deleteNamespace,
  exec,
  fortioDeployment,
  listPods,
  meshCluster,
  meshNamespace,
  programTrafficPolicy,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  waitPodsReady,
  type PodObject,
} from "./kit.js";

const NS = "e2e-xds-replicas";
const ROOT = "skiff-system";
const CLIENTS = 4;

/** The Mesh as kit.ts applies it, with `replicas` xDS servers. */
const mesh = (replicas: number) => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "Mesh",
  metadata: { name: "default" },
  spec: { rootNamespace: ROOT, controlPlane: { replicas } },
});

/** Waits until exactly `count` xDS Pods exist, all Ready and none being deleted. */
async function xdsReplicas(count: number): Promise<void> {
  await waitFor(
    meshCluster().kubeConfig,
    "v1",
    "Pod",
    ROOT,
    (pods) => {
      const xds = pods.filter((p) => p.metadata?.name?.startsWith("skiff-xds-"));
      return (
        xds.length === count &&
        xds.every((p) => !p.metadata?.deletionTimestamp && condition(p, "Ready") === "True")
      );
    },
    150_000,
    `${count} ready xDS replicas`,
  );
}

/** Each xDS replica's open proxy streams (its skiff_xds_connected_proxies), read in its own network namespace. */
async function streamsPerReplica(): Promise<Map<string, number>> {
  const replicas = (await listPods(ROOT)).filter(
    (p) => p.metadata.name.startsWith("skiff-xds-") && !p.metadata.deletionTimestamp,
  );
  const streams = new Map<string, number>();
  for (const pod of replicas) {
    const command = ["curl", "-sSf", "-m", "10", "http://127.0.0.1:15014/metrics"];
    const result = await exec(ROOT, pod.metadata.name, command, { container: "xds", timeoutMs: 15_000 });
    assert.equal(result.code, 0, `metrics of ${pod.metadata.name}: ${result.stderr}`);
    const value = /^skiff_xds_connected_proxies (\d+)$/m.exec(result.stdout)?.[1];
    assert.ok(value !== undefined, `${pod.metadata.name} reports skiff_xds_connected_proxies`);
    streams.set(pod.metadata.name, Number(value));
  }
  return streams;
}

/** Running Pods with a sidecar, in the whole cluster: the data planes connectedProxies counts. */
async function sidecarPods(): Promise<number> {
  const pods = await rest().request<{ items: (PodObject & { spec: { containers: { name: string }[] } })[] }>(
    "GET",
    "/api/v1/pods",
  );
  return pods.items.filter(
    (p) => !p.metadata.deletionTimestamp && p.spec.containers.some((c) => c.name === "skiff-proxy"),
  ).length;
}

/**
 * The Mesh with two xDS replicas, found by each other through the skiff-xds
 * Service's EndpointSlices, asking each other over TLS with their projected
 * tokens. Sidecars started after both are up land on either (kube-proxy
 * picks), so the status writer must count the other replica's to be right.
 */
describe("policy status and the Mesh's proxy count with two xDS replicas", function () {
  before(async function () {
    skipUnlessSupported(this);
    await apply([mesh(2)]);
    await xdsReplicas(2);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "echo"),
      service(NS, "echo", [{ name: "http", port: 8080 }]),
      ...Array.from({ length: CLIENTS }, (_, i) => clientPod(NS, `client-${i}`)),
    ]);
    await waitPodsReady(NS, CLIENTS + 1);
  });

  after(async () => {
    await deleteNamespace(NS);
    await apply([mesh(1)]);
    await xdsReplicas(1);
  });

  it("counts the sidecars of both replicas, and programs a policy only once all of them run it", async () => {
    // kube-proxy picks a replica for each sidecar: add clients until both have some (each one a coin toss).
    for (let extra = 0; [...(await streamsPerReplica()).values()].some((n) => n === 0); extra++) {
      assert.ok(
        extra < 10,
        `the sidecars all landed on one replica: ${JSON.stringify([...(await streamsPerReplica())])}`,
      );
      await apply([clientPod(NS, `extra-${extra}`)]);
      await waitPodsReady(NS, CLIENTS + 2 + extra);
    }
    const sidecars = await sidecarPods();
    assert.ok(sidecars >= CLIENTS + 1, `${sidecars} sidecars`);
    const meshes = await waitFor(
      meshCluster().kubeConfig,
      "skiff.dev/v1alpha1",
      "Mesh",
      undefined,
      (objects) =>
        objects.some(
          (m) => (m as { status?: { connectedProxies?: number } }).status?.connectedProxies === sidecars,
        ),
      60_000,
      `the Mesh counting ${sidecars} connected proxies`,
    );
    assert.equal(meshes.length, 1);

    const policy = await programTrafficPolicy(NS, "echo", { loadBalancer: { algorithm: "Random" } });
    const tp = await rest().request<
      KubernetesObject & { status?: { proxies?: { targeted: number; acked: number } } }
    >("GET", `/apis/skiff.dev/v1alpha1/namespaces/${NS}/trafficpolicies/${policy.metadata!.name}`);
    // Every sidecar takes every cluster, so every one, on either replica, is counted.
    assert.deepEqual(tp.status?.proxies, { targeted: sidecars, acked: sidecars, nacked: 0 });
  });
});
