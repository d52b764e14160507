import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { pino } from "pino";
import { startXdsProxy, type RunningXdsProxy } from "../../../src/agent/xds-proxy.js";
import { xdsChannel } from "../../../src/agent/xds-channel.js";
import { renderBootstrap } from "../../../src/inject/bootstrap.js";
import { envoyBinary } from "../../../src/localnode/tools.js";
import { CLUSTER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { createMeshCa, freePort, markPodRunning, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { repositoryRoot } from "../../../src/controlplane/binaries.js";
import { AGENT_SDS_SOCKET, AGENT_XDS_SOCKET } from "../../../src/mesh/proxy.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "../kubectl.js";

/**
 * skiff agent's xDS proxy: Envoy dials a Unix socket in its Pod, in
 * plaintext and with no token, and the agent carries each stream to the xDS
 * server over TLS from the mesh CA with the Pod's token. The server in
 * production mode (security: tls) serves such a stream, and refuses what
 * the agent relays unchanged when the token does not back the node.
 */
const NS = "xds-proxy";
const SERVER_NAME = `skiff-xds.${NS}.svc`;
const POD = "reviews-v1";
const POD_IP = "10.0.0.9";
const MESH = "xds-proxy";
const nodeOf = (pod: string) => `sidecar~${POD_IP}~${pod}.${NS}~${NS}.svc.cluster.local`;

describe("skiff agent's xDS proxy: plaintext in the Pod, TLS and the Pod's token to the server", function () {
  this.timeout(120_000);
  let dir: string;
  let xds: RunningXdsServer;
  let proxy: RunningXdsProxy;
  let socketPath: string;
  const agents: ChildProcess[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "skiff-xds-proxy-"));
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "reviews"]);
    const root = await createMeshCa(NS);
    writeFileSync(join(dir, "root-cert.pem"), root.certPem);
    writeFileSync(
      join(dir, "token"),
      await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews", "skiff", POD),
    );
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "tls", serverNames: [SERVER_NAME] },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS,
    });
    socketPath = join(dir, "xds.sock");
    proxy = await startXdsProxy({
      socketPath,
      address: `127.0.0.1:${xds.port}`,
      channel: xdsChannel({
        address: `127.0.0.1:${xds.port}`,
        serverName: SERVER_NAME,
        trustBundleFile: join(dir, "root-cert.pem"),
      }),
      token: () => readFile(join(dir, "token"), "utf8"),
      logger: pino({ level: "silent" }),
    });
  });

  after(async () => {
    for (const agent of agents) if (agent.exitCode === null) agent.kill("SIGKILL");
    await proxy?.stop();
    await xds?.stop();
    rmSync(dir, { recursive: true, force: true });
    await kubectl(["delete", "mesh", MESH]);
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("carries a stream with no token of its own to the server, which serves it as the Pod", async () => {
    const client = new SotwClient(`unix:${socketPath}`, { id: nodeOf(POD) });
    try {
      client.request({ typeUrl: CLUSTER_TYPE });
      assert.equal((await client.next(10_000)).typeUrl, CLUSTER_TYPE);
    } finally {
      client.close();
    }
  });

  it("relays the server's refusal, unchanged, when the node names a Pod the token is not bound to", async () => {
    const forger = new SotwClient(`unix:${socketPath}`, { id: nodeOf("ratings-v1") });
    try {
      forger.request({ typeUrl: CLUSTER_TYPE });
      const status = await forger.status;
      assert.equal(status.code, GrpcStatus.PERMISSION_DENIED, status.details);
      assert.match(status.details, /names the Pod xds-proxy\/ratings-v1/);
    } finally {
      forger.close();
    }
  });

  it("skiff agent sidecar: a real Envoy gets its configuration through the agent, and its certificate from the agent's SDS", async () => {
    // reviews-v1 becomes a mesh workload with a Service port: its sidecar's inbound mTLS chain needs the
    // workload certificate, which Envoy fetches from the agent (no initial fetch timeout), so LIVE proves it came.
    await kubectlOk(["apply", "-f", "-"], workloadObjects());
    await kubectlOk(["annotate", "pod", POD, "-n", NS, "sidecar.skiff.dev/status=injected"]);
    await markPodRunning(NS, POD, POD_IP);
    const sidecarDir = join(dir, "sidecar");
    mkdirSync(sidecarDir);
    const config = join(sidecarDir, "envoy.json");
    const adminPort = await freePort("127.0.0.1");
    writeFileSync(
      config,
      renderBootstrap({
        xds: { socketPath: join(sidecarDir, AGENT_XDS_SOCKET) },
        sdsSocketPath: join(sidecarDir, AGENT_SDS_SOCKET),
        adminPort,
        prometheusPort: await freePort("127.0.0.1"),
        healthPort: await freePort("127.0.0.1"),
      }),
    );
    let output = "";
    const agent = spawn(
      process.execPath,
      [
        ...["--import", "tsx", "src/cli/main.ts", "agent", "sidecar"],
        ...["--xds-address", `127.0.0.1:${xds.port}`, "--xds-server-name", SERVER_NAME],
        ...["--trust-bundle", join(dir, "root-cert.pem"), "--token-file", join(dir, "token")],
        ...["--run-dir", sidecarDir, "--envoy-binary", await envoyBinary(), "--node-id", nodeOf(POD)],
        ...["--", "-c", config, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warning"],
        ...["--service-node", nodeOf(POD), "--service-cluster", NS],
      ],
      {
        cwd: repositoryRoot(),
        env: { ...process.env, TMPDIR: sidecarDir, SKIFF_LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    agents.push(agent);
    agent.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    await eventually(async () => {
      assert.equal(agent.exitCode, null, `the agent exited: ${output}`);
      const ready = await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined);
      assert.equal(ready?.status, 200, `not LIVE yet: ${output.slice(-2000)}`);
    }, 60_000);
    const certs = (await (await fetch(`http://127.0.0.1:${adminPort}/certs`)).json()) as {
      certificates: { cert_chain: { subject_alt_names?: { uri?: string }[] }[] }[];
    };
    const uris = certs.certificates.flatMap((c) => c.cert_chain.flatMap((x) => x.subject_alt_names ?? []));
    assert.ok(
      uris.some((san) => san.uri === `spiffe://cluster.local/ns/${NS}/sa/reviews`),
      JSON.stringify(certs),
    );
    // SIGTERM reaches Envoy through the agent, which exits with Envoy's code.
    const exited = new Promise<number | null>((resolve) => agent.once("exit", (code) => resolve(code)));
    agent.kill("SIGTERM");
    assert.equal(await exited, 0, output.slice(-2000));
  });
});

/** A Mesh, the namespace meshed, and a Service whose endpoint is reviews-v1 (the Pod the agent speaks for). */
function workloadObjects(): string {
  return `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: ${MESH} }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { skiff.dev/injection: enabled } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: ${NS} }
spec:
  selector: { app: reviews }
  ports: [{ name: http, port: 9080, targetPort: 9080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: reviews-1, namespace: ${NS}, labels: { kubernetes.io/service-name: reviews } }
addressType: IPv4
ports: [{ name: http, port: 9080, protocol: TCP }]
endpoints:
  - addresses: [${POD_IP}]
    conditions: { ready: true }
    targetRef: { kind: Pod, name: ${POD}, namespace: ${NS} }
`;
}
