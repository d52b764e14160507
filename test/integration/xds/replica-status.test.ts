import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Client, credentials, Metadata, status as GrpcStatus } from "@grpc/grpc-js";
import { pino } from "pino";
import type { TrafficPolicy } from "../../../src/api/v1alpha1/generated/trafficpolicy.js";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { LocalControlPlane } from "../../../src/controlplane/controlplane.js";
import { xdsServerNames } from "../../../src/mesh/names.js";
import { createRootCa } from "../../../src/pki/root.js";
import type { CertificateAuthorityMaterial } from "../../../src/pki/root.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import { CLUSTER_TYPE, messageName } from "../../../src/xds/translate/resource.js";
import { REPLICA_PROGRAMMING_PATH } from "../../../src/xds/server/service-definition.js";
import type { ReplicaReport } from "../../../src/xds/status/replica-report.js";
import { PeerReplicas } from "../../../src/xds/status/peer-replicas.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { OWN_CONNECTION, SotwClient, type SotwResponse } from "../../support/ads-client.js";
import { portsFreeOn } from "../../support/free-ports.js";
import { serviceAccountToken } from "../../support/mesh-test-kit.js";
import { eventually } from "../kubectl.js";

/**
 * Two xDS replicas serving TLS from the mesh CA, as in a cluster, each with
 * a proxy of its own, against a real API server (a control plane of this
 * file's own: the Mesh is cluster-wide). Only the replica that holds the
 * status Lease writes status; it asks the other over
 * skiff.xds.v1alpha1.ReplicaStatus/Programming, with the xDS
 * ServiceAccount's token, verifying its certificate, and writes what both
 * know.
 */
const NS = "replicas";
const ROOT = "skiff-system";
const CLUSTER = `outbound|9080||reviews.${NS}.svc.cluster.local`;
const SERVER_NAMES = xdsServerNames(ROOT, "cluster.local");
const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

const RESOURCES = `apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: ${NS} }
spec:
  ports: [{ name: http, port: 9080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews
  namespace: ${NS}
  labels: { kubernetes.io/service-name: reviews }
addressType: IPv4
ports: [{ name: http, port: 9080, protocol: TCP }]
endpoints:
  - { addresses: [10.78.0.1], conditions: { ready: true } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: skiff-xds, namespace: ${ROOT} }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: workload, namespace: ${NS} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: skiff-xds-replica-test }
rules: [{ apiGroups: [skiff.dev], resources: [meshes], verbs: [get] }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: skiff-xds-replica-test }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: skiff-xds-replica-test }
subjects: [{ kind: ServiceAccount, name: skiff-xds, namespace: ${ROOT} }]
---
apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: default }
spec: {}
`;

const trafficPolicy = (algorithm: string) => `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: reviews }
  loadBalancer: { algorithm: ${algorithm} }
`;

/** The lb_policy of the reviews cluster in a CDS response, if it carries that cluster. */
function lbPolicy(response: SotwResponse): string | undefined {
  const cluster = response.resources.find((r) => r.name === CLUSTER);
  if (!cluster) return undefined;
  const type = messageName(cluster.typeUrl);
  return ((messageToJson(type, decodeMessage(type, cluster.value)) as { lbPolicy?: string }).lbPolicy ??
    "ROUND_ROBIN") as string;
}

describe("policy status and connectedProxies over two xDS replicas", function () {
  this.timeout(180_000);
  let plane: LocalControlPlane;
  let a: RunningXdsServer | undefined;
  let b: RunningXdsServer | undefined;
  let bAddress: string;
  let root: CertificateAuthorityMaterial;
  let workloadToken: string;
  /** A channel as a proxy in the mesh opens one: its own connection, verifying the server against the mesh root. */
  const meshChannel = () => ({
    credentials: credentials.createSsl(Buffer.from(root.certPem)),
    options: { ...OWN_CONNECTION, "grpc.ssl_target_name_override": SERVER_NAMES[0]! },
  });
  const proxies: SotwClient[] = [];

  const kubectl = async (args: string[], input?: string) => {
    const run = promisify(execFile)(plane.binaries.kubectl, ["--kubeconfig", plane.kubeconfigPath, ...args]);
    if (input !== undefined) run.child.stdin!.end(input);
    return (await run).stdout;
  };
  const programmed = async () => {
    const tp = JSON.parse(await kubectl(["get", "tp", "reviews", "-n", NS, "-o", "json"])) as TrafficPolicy;
    assert.equal(tp.status?.observedGeneration, tp.metadata?.generation, JSON.stringify(tp.status));
    const c = tp.status?.conditions?.find((c) => c.type === "Programmed");
    assert.ok(c, JSON.stringify(tp.status));
    return { ...c, proxies: tp.status?.proxies };
  };
  const connectedProxies = async () =>
    (JSON.parse(await kubectl(["get", "mesh", "default", "-o", "json"])) as Mesh).status?.connectedProxies;

  /** A proxyless client on `server` that takes every cluster (CDS wildcard), so that the policy targets it. */
  const proxyOn = (server: RunningXdsServer, name: string) => {
    const channel = meshChannel();
    const proxy = new SotwClient(
      `127.0.0.1:${server.port}`,
      { id: `grpc~${name}`, metadata: { GENERATOR: "grpc" } },
      workloadToken,
      channel.options,
      channel.credentials,
    );
    proxies.push(proxy);
    proxy.request({ typeUrl: CLUSTER_TYPE, resourceNames: [] });
    return proxy;
  };
  /** ACKs what the proxy is sent until a response carries the reviews cluster with `lb`; answers that one as told. */
  const answerWhen = async (proxy: SotwClient, lb: string, nack?: string) => {
    for (;;) {
      const response = await proxy.next(30_000);
      if (lbPolicy(response) !== lb) {
        proxy.ack(response);
        continue;
      }
      if (nack) proxy.nack(response, nack);
      else proxy.ack(response);
      return;
    }
  };

  before(async () => {
    plane = await LocalControlPlane.start();
    await kubectl(["create", "namespace", ROOT]);
    root = await createRootCa({ trustDomain: "cluster.local", validityMs: 24 * 3600_000, now: new Date() });
    await kubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "skiff-ca", namespace: ROOT },
        stringData: { "tls.crt": root.certPem, "tls.key": root.keyPem },
      }),
    );
    await eventually(() => kubectl(["apply", "-f", "-"], RESOURCES));
    const kubeConfig = plane.kubeConfig();
    workloadToken = await serviceAccountToken(kubeConfig, NS, "workload");
    const token = () => serviceAccountToken(kubeConfig, ROOT, "skiff-xds");
    const [port] = await portsFreeOn(["127.0.0.1"], 1);
    bAddress = `127.0.0.1:${port}`;
    const options = {
      logger,
      caNamespace: ROOT,
      statusLeaseNamespace: ROOT,
      security: { mode: "tls", serverNames: SERVER_NAMES } as const,
    };
    // A first, so that it takes the status Lease; B, started once A holds it, does not write status.
    a = await startXdsServer(kubeConfig, {
      ...options,
      address: "127.0.0.1:0",
      replicas: { peers: [{ name: "replica-b", address: bAddress }], token },
    });
    await eventually(() => kubectl(["get", "lease", "skiff-xds-status", "-n", ROOT]));
    b = await startXdsServer(kubeConfig, {
      ...options,
      address: bAddress,
      replicas: { peers: [{ name: "replica-a", address: `127.0.0.1:${a.port}` }], token },
    });
  });

  after(async () => {
    try {
      proxies.forEach((p) => p.close());
      await b?.stop();
      await a?.stop();
    } finally {
      await plane?.stop();
    }
  });

  it("counts every replica's proxies in connectedProxies", async () => {
    const onA = proxyOn(a!, "client-a");
    await onA.next(30_000).then((r) => onA.ack(r));
    const onB = proxyOn(b!, "client-b");
    await onB.next(30_000).then((r) => onB.ack(r));
    await eventually(async () => assert.equal(await connectedProxies(), 2));
  });

  it("is Pending until the proxies on both replicas run the policy, then Programmed", async () => {
    const [onA, onB] = proxies as [SotwClient, SotwClient];
    await kubectl(["apply", "-f", "-"], trafficPolicy("Random"));
    await answerWhen(onA, "RANDOM");
    const pending = await eventually(async () => {
      const c = await programmed();
      assert.deepEqual(
        [c.status, c.reason, c.proxies],
        ["False", "Pending", { targeted: 2, acked: 1, nacked: 0 }],
      );
      return c;
    });
    assert.equal(pending.message, "1 of 2 proxies run this generation.");
    // Held for a while: B's proxy has not answered, so no later write may say otherwise.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await programmed()).reason, "Pending");

    await answerWhen(onB, "RANDOM");
    await eventually(async () => {
      const c = await programmed();
      assert.deepEqual(
        [c.status, c.reason, c.proxies],
        ["True", "Programmed", { targeted: 2, acked: 2, nacked: 0 }],
      );
      assert.equal(c.message, "All 2 proxies that this policy affects run this generation.");
    });
  });

  it("shows a NACK on the replica that does not write status as Nacked, with the proxy's message", async () => {
    const [onA, onB] = proxies as [SotwClient, SotwClient];
    await kubectl(["apply", "-f", "-"], trafficPolicy("LeastRequest"));
    await answerWhen(onA, "LEAST_REQUEST");
    await answerWhen(onB, "LEAST_REQUEST", "cluster reviews: least request refused by the test proxy");
    await eventually(async () => {
      const c = await programmed();
      assert.deepEqual([c.status, c.reason], ["False", "Nacked"]);
      assert.equal(
        c.message,
        "1 of 2 proxies rejected the configuration: cluster reviews: least request refused by the test proxy",
      );
      assert.deepEqual(c.proxies, {
        targeted: 2,
        acked: 1,
        nacked: 1,
        lastNackMessage: "cluster reviews: least request refused by the test proxy",
      });
    });
  });

  it("answers another replica only for a ServiceAccount that may get Meshes, as CSDS does", async () => {
    const kubeConfig = plane.kubeConfig();
    const channel = meshChannel();
    const client = new Client(bAddress, channel.credentials, channel.options);
    const ask = (token?: string) => {
      const metadata = new Metadata();
      if (token) metadata.set("authorization", `Bearer ${token}`);
      return new Promise<string>((resolve) =>
        client.makeUnaryRequest(
          REPLICA_PROGRAMMING_PATH,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          metadata,
          (error, response) =>
            resolve(error ? `${GrpcStatus[error.code]}: ${error.details}` : response!.toString()),
        ),
      );
    };
    try {
      assert.match(await ask(), /^UNAUTHENTICATED: no bearer token/);
      assert.match(await ask("not-a-token"), /^UNAUTHENTICATED: invalid credentials/);
      assert.equal(
        await ask(workloadToken),
        `PERMISSION_DENIED: system:serviceaccount:${NS}:workload may not get meshes.skiff.dev, which reading proxy status requires`,
      );
      const report = JSON.parse(
        await ask(await serviceAccountToken(kubeConfig, ROOT, "skiff-xds")),
      ) as ReplicaReport;
      assert.equal(report.connectedProxies, 1);
      assert.deepEqual(
        report.policies.map((p) => [
          p.kind,
          p.namespace,
          p.name,
          p.programming.targeted,
          p.programming.nacked,
        ]),
        [["TrafficPolicy", NS, "reviews", 1, 1]],
      );
    } finally {
      client.close();
    }
  });

  it("believes a replica only with a certificate from the mesh roots for the xDS Service's name", async () => {
    const token = () => serviceAccountToken(plane.kubeConfig(), ROOT, "skiff-xds");
    const otherRoot = await createRootCa({
      trustDomain: "cluster.local",
      validityMs: 3600_000,
      now: new Date(),
    });
    const ask = async (roots: string, serverName: string) => {
      const peers = new PeerReplicas({
        peers: () => [{ name: "replica-b", address: bAddress }],
        token,
        tls: { roots: () => roots, serverName },
      });
      try {
        return await peers.ask();
      } finally {
        peers.close();
      }
    };
    const [trusted] = await ask(root.certPem, SERVER_NAMES[0]!);
    assert.ok(trusted && "report" in trusted, JSON.stringify(trusted));
    for (const [roots, serverName] of [
      [otherRoot.certPem, SERVER_NAMES[0]!],
      [root.certPem, "skiff-xds.elsewhere.svc"],
    ] as const) {
      const [answer] = await ask(roots, serverName);
      assert.ok(answer && "unreachable" in answer, JSON.stringify(answer));
      assert.equal(answer.replica, "replica-b");
    }
  });

  it("says so when a replica stops answering, rather than True, and counts the proxies it knows", async () => {
    const [onA] = proxies as [SotwClient, SotwClient];
    await kubectl(["apply", "-f", "-"], trafficPolicy("Random"));
    await answerWhen(onA, "RANDOM");
    await b!.stop();
    b = undefined;
    await eventually(async () => {
      const c = await programmed();
      assert.deepEqual([c.status, c.reason], ["Unknown", "ReplicaUnreachable"]);
      assert.match(
        c.message,
        /^All 1 proxies known run this generation, but xDS replica replica-b did not answer \(.+\): whether its proxies do is not known\.$/,
      );
    });
    assert.equal(await connectedProxies(), 1);
  });
});
