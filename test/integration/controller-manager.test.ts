import assert from "node:assert/strict";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import type { KubernetesObject, V1EndpointSlice, V1OwnerReference } from "@kubernetes/client-node";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { Informer } from "../../src/k8s/informer.js";
import { kubeConfigFromYaml } from "../../src/k8s/kubeconfig.js";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import { isAlive, waitForExit } from "../support/processes.js";

/** The fields these tests read, for every kind they watch. */
interface Obj extends KubernetesObject {
  metadata: KubernetesObject["metadata"] & { uid?: string; ownerReferences?: V1OwnerReference[] };
  spec?: Record<string, unknown> & { serviceAccountName?: string; nodeName?: string };
  status?: Record<string, unknown> & { phase?: string };
  data?: Record<string, string>;
}

const name = (o: KubernetesObject) => o.metadata?.name ?? "";
const ownedBy = (o: Obj, owner: Obj) =>
  (o.metadata.ownerReferences ?? []).some((r) => r.uid === owner.metadata.uid);

describe("kube-controller-manager in the local control plane", function () {
  // Starting it (and building it, the first time) takes longer than a test.
  this.timeout(180_000);
  let plane: LocalControlPlane;
  let rest: RestClient;
  let startedInMs: number;
  let run = 0;
  /** A fresh namespace per test, so nothing one test leaves behind confuses another. */
  let ns: string;

  /**
   * Watches a kind in the test's namespace with the informer from src/k8s
   * until `check` over the cached objects returns something, and returns
   * that. Checked after the initial list and after every event, so nothing
   * waits longer than the controllers take.
   */
  async function until<R>(
    apiVersion: string,
    kind: string,
    what: string,
    check: (objects: Obj[]) => R | undefined,
    timeoutMs = 60_000,
  ): Promise<R> {
    const informer = new Informer<Obj>(plane.kubeConfig(), apiVersion, kind, { namespace: ns });
    try {
      return await new Promise<R>((resolve, reject) => {
        const timer = setTimeout(() => {
          const seen = informer.list().map(name).join(", ") || "none";
          reject(new Error(`no ${what} after ${timeoutMs} ms (${kind}s in ${ns}: ${seen})`));
        }, timeoutMs);
        const evaluate = () => {
          const result = check(informer.list());
          if (result === undefined) return;
          clearTimeout(timer);
          resolve(result);
        };
        informer.on(evaluate);
        informer.start().then(evaluate, (error: unknown) => {
          clearTimeout(timer);
          reject(error as Error);
        });
      });
    } finally {
      informer.stop();
    }
  }

  const create = <T extends Obj>(path: string, body: T) => rest.request<T>("POST", path, { body });
  const createNamespace = async () => {
    ns = `kcm-${process.pid}-${++run}`;
    await create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  };

  before(async () => {
    const started = Date.now();
    plane = await LocalControlPlane.start({ controllerManager: true, crdDirectory: null });
    startedInMs = Date.now() - started;
    rest = new RestClient(plane.kubeConfig());
  });
  after(async () => plane?.stop());
  beforeEach(createNamespace);

  it("runs as a third process, its controllers already at work when start() returns", async () => {
    console.log(`      (control plane with kube-controller-manager up in ${startedInMs} ms)`);
    assert.equal(plane.processIds.length, 3);
    assert.ok(plane.processIds.every(isAlive));
    // start() waits for this, so that Pods in `default` pass the ServiceAccount admission plugin at once.
    await rest.request("GET", "/api/v1/namespaces/default/serviceaccounts/default");
  });

  it("gives a new namespace its default ServiceAccount and the kube-root-ca.crt ConfigMap", async () => {
    const sa = await until("v1", "ServiceAccount", "default ServiceAccount", (all) =>
      all.find((o) => name(o) === "default"),
    );
    assert.equal(sa.metadata.namespace, ns);
    const rootCa = await until("v1", "ConfigMap", "kube-root-ca.crt", (all) =>
      all.find((o) => name(o) === "kube-root-ca.crt"),
    );
    const caPem = Buffer.from(plane.kubeConfig().getCurrentCluster()!.caData!, "base64").toString();
    assert.equal(rootCa.data?.["ca.crt"]?.trim(), caPem.trim(), "the published root is the local CA");
  });

  it("runs Deployments: a ReplicaSet, then a Pod that stays Pending, and collects both when the Deployment goes", async () => {
    // With the ServiceAccount admission plugin on, Pods wait for their namespace's default ServiceAccount.
    await until("v1", "ServiceAccount", "default ServiceAccount", (all) =>
      all.find((o) => name(o) === "default"),
    );
    const deployment = await create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: { containers: [{ name: "web", image: "registry.k8s.io/pause:3.10" }] },
        },
      },
    });
    const replicaSet = await until("apps/v1", "ReplicaSet", "ReplicaSet owned by the Deployment", (all) =>
      all.find((o) => ownedBy(o, deployment)),
    );
    const pod = await until("v1", "Pod", "Pod owned by the ReplicaSet", (all) =>
      all.find((o) => ownedBy(o, replicaSet)),
    );
    assert.equal(pod.status?.phase, "Pending", "no node runs it");
    assert.equal(pod.spec?.nodeName, undefined, "no scheduler binds it");
    // The ServiceAccount admission plugin filled in the ServiceAccount and its token volume.
    assert.equal(pod.spec?.serviceAccountName, "default");
    const volumes = (pod.spec?.volumes ?? []) as { name: string }[];
    assert.ok(
      volumes.some((v) => v.name.startsWith("kube-api-access-")),
      JSON.stringify(volumes),
    );

    await rest.request("DELETE", `/apis/apps/v1/namespaces/${ns}/deployments/web`, {
      body: { apiVersion: "v1", kind: "DeleteOptions", propagationPolicy: "Background" },
    });
    await until("apps/v1", "ReplicaSet", "garbage collection of the ReplicaSet", (all) =>
      all.length === 0 ? true : undefined,
    );
    await until("v1", "Pod", "garbage collection of the Pod", (all) => (all.length === 0 ? true : undefined));
  });

  it("collects a ConfigMap whose owner, another ConfigMap, is deleted, and leaves the others", async () => {
    const configMap = (cmName: string, owner?: Obj): Obj => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name: cmName,
        ...(owner
          ? {
              ownerReferences: [
                { apiVersion: "v1", kind: "ConfigMap", name: name(owner), uid: owner.metadata.uid! },
              ],
            }
          : {}),
      },
      data: { k: "v" },
    });
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const owner = await create(path, configMap("owner"));
    await create(path, configMap("owned", owner));
    await create(path, configMap("bystander"));
    await rest.request("DELETE", `${path}/owner`);
    const left = await until("v1", "ConfigMap", "garbage collection of the owned ConfigMap", (all) =>
      all.some((o) => ["owner", "owned"].includes(name(o))) ? undefined : all.map(name).sort(),
    );
    assert.deepEqual(
      left.filter((n) => n !== "kube-root-ca.crt"),
      ["bystander"],
    );
  });

  it("publishes an EndpointSlice for a Service, with each Pod's address and readiness", async () => {
    await until("v1", "ServiceAccount", "default ServiceAccount", (all) =>
      all.find((o) => name(o) === "default"),
    );
    // The EndpointSlice controller skips Pods whose Node it does not know, so there is one, unscheduled Pods being left out.
    const nodeName = `${ns}-node`;
    await create("/api/v1/nodes", { apiVersion: "v1", kind: "Node", metadata: { name: nodeName } });
    try {
      await create(`/api/v1/namespaces/${ns}/services`, {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web" },
        spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
      });
      const pods = [
        { podName: "web-ready", ip: "10.244.0.5", ready: "True" },
        { podName: "web-starting", ip: "10.244.0.6", ready: "False" },
      ];
      for (const { podName, ip, ready } of pods) {
        const pod = await create(`/api/v1/namespaces/${ns}/pods`, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: podName, labels: { app: "web" } },
          spec: {
            nodeName,
            containers: [
              { name: "web", image: "registry.k8s.io/pause:3.10", ports: [{ containerPort: 8080 }] },
            ],
          },
        });
        // What a kubelet would report, through the status subresource.
        const now = new Date().toISOString();
        await rest.request("PUT", `/api/v1/namespaces/${ns}/pods/${podName}/status`, {
          body: {
            ...pod,
            status: {
              phase: "Running",
              podIP: ip,
              podIPs: [{ ip }],
              hostIP: "192.0.2.10",
              startTime: now,
              conditions: [
                { type: "PodScheduled", status: "True", lastTransitionTime: now },
                { type: "Initialized", status: "True", lastTransitionTime: now },
                { type: "ContainersReady", status: ready, lastTransitionTime: now },
                { type: "Ready", status: ready, lastTransitionTime: now },
              ],
            },
          },
        });
      }
      const slice = await until(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "EndpointSlice with both Pods",
        (all) =>
          (all as unknown as V1EndpointSlice[]).find(
            (s) =>
              s.metadata?.labels?.["kubernetes.io/service-name"] === "web" &&
              (s.endpoints ?? []).length === 2,
          ),
      );
      assert.equal(slice.addressType, "IPv4");
      assert.deepEqual(slice.ports, [{ name: "http", port: 8080, protocol: "TCP" }]);
      const endpoints = (slice.endpoints ?? [])
        .map((e) => ({
          addresses: e.addresses,
          ready: e.conditions?.ready,
          pod: e.targetRef?.name,
          nodeName: e.nodeName,
        }))
        .sort((a, b) => a.pod!.localeCompare(b.pod!));
      assert.deepEqual(endpoints, [
        { addresses: ["10.244.0.5"], ready: true, pod: "web-ready", nodeName },
        { addresses: ["10.244.0.6"], ready: false, pod: "web-starting", nodeName },
      ]);
    } finally {
      await rest.request("DELETE", `/api/v1/nodes/${nodeName}`);
    }
  });

  it("issues client kubeconfigs for other components, also for an address the certificate lacks", async () => {
    const whoAmI = async (kubeconfig: string) => {
      const review = await new RestClient(kubeConfigFromYaml(kubeconfig)).request<{
        status: { userInfo: { username: string; groups: string[] } };
      }>("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      });
      const { username, groups } = review.status.userInfo;
      return { username, groups };
    };
    const proxy = await plane.clientKubeconfig({ user: "system:kube-proxy" });
    assert.deepEqual(await whoAmI(proxy), {
      username: "system:kube-proxy",
      groups: ["system:authenticated"],
    });
    // The default RBAC policy lets kube-proxy read EndpointSlices and nothing secret.
    const asProxy = new RestClient(kubeConfigFromYaml(proxy));
    await asProxy.request("GET", "/apis/discovery.k8s.io/v1/endpointslices");
    await assert.rejects(
      asProxy.request("GET", `/api/v1/namespaces/${ns}/secrets`),
      (e: unknown) => e instanceof KubernetesApiError && e.statusCode === 403,
    );

    // Through a forwarder, as the local node's components reach it: the
    // forwarder's address is not in the serving certificate, a name in it is.
    const apiPort = Number(new URL(plane.apiServerUrl).port);
    const sockets = new Set<Socket>();
    const forwarder = createServer((client) => {
      const upstream = connect(apiPort, "127.0.0.1");
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = () => (client.destroy(), upstream.destroy());
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
    });
    await new Promise<void>((resolve) => forwarder.listen(0, "127.0.0.2", resolve));
    try {
      const server = `https://127.0.0.2:${(forwarder.address() as AddressInfo).port}`;
      const node = { user: "skiff:test-node", groups: ["system:nodes", "skiff:testers"], server };
      const viaForwarder = await plane.clientKubeconfig({ ...node, tlsServerName: "kubernetes.default.svc" });
      assert.match(viaForwarder, /tls-server-name: kubernetes.default.svc/);
      assert.deepEqual(await whoAmI(viaForwarder), {
        username: "skiff:test-node",
        groups: ["system:nodes", "skiff:testers", "system:authenticated"],
      });
      await assert.rejects(whoAmI(await plane.clientKubeconfig(node)), /127\.0\.0\.2/);
    } finally {
      forwarder.close();
      for (const socket of sockets) socket.destroy();
    }
    const throughName = await plane.clientKubeconfig({
      user: "skiff:test-node",
      groups: ["system:nodes", "skiff:testers"],
      tlsServerName: "kubernetes.default.svc.cluster.local",
    });
    assert.deepEqual(await whoAmI(throughName), {
      username: "skiff:test-node",
      groups: ["system:nodes", "skiff:testers", "system:authenticated"],
    });
    const wrongName = await plane.clientKubeconfig({ user: "x", tlsServerName: "not-in-the-certificate" });
    await assert.rejects(whoAmI(wrongName), /not-in-the-certificate|altnames|Hostname/i);
  });

  it("keeps working across an API server restart", async () => {
    const before = plane.processIds;
    await plane.restartApiServer();
    assert.equal(plane.processIds.length, 3);
    assert.equal(plane.processIds[2], before[2], "kube-controller-manager kept running");
    await createNamespace();
    await until("v1", "ServiceAccount", "default ServiceAccount after the restart", (all) =>
      all.find((o) => name(o) === "default"),
    );
  });

  it("stop() ends kube-controller-manager with the rest", async () => {
    const pids = plane.processIds;
    await plane.stop();
    await waitForExit(pids);
  });
});
