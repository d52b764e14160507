import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { pino } from "pino";
import { startXdsProxy, type RunningXdsProxy } from "../../../src/agent/xds-proxy.js";
import { renderBootstrap } from "../../../src/inject/bootstrap.js";
import { envoyBinary } from "../../../src/localnode/tools.js";
import { CLUSTER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { createMeshCa, freePort, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

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
const nodeOf = (pod: string) => `sidecar~10.0.0.9~${pod}.${NS}~${NS}.svc.cluster.local`;

describe("skiff agent's xDS proxy: plaintext in the Pod, TLS and the Pod's token to the server", function () {
  this.timeout(120_000);
  let dir: string;
  let xds: RunningXdsServer;
  let proxy: RunningXdsProxy;
  let socketPath: string;
  const envoys: ChildProcess[] = [];

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
      serverName: SERVER_NAME,
      trustBundleFile: join(dir, "root-cert.pem"),
      token: () => readFile(join(dir, "token"), "utf8"),
      logger: pino({ level: "silent" }),
    });
  });

  after(async () => {
    for (const envoy of envoys) envoy.kill("SIGKILL");
    await proxy?.stop();
    await xds?.stop();
    rmSync(dir, { recursive: true, force: true });
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

  it("gets a real Envoy, started from the sidecar bootstrap, its configuration: it goes LIVE", async () => {
    const config = join(dir, "envoy.json");
    const adminPort = await freePort("127.0.0.1");
    writeFileSync(
      config,
      renderBootstrap({
        xds: { socketPath },
        adminPort,
        prometheusPort: await freePort("127.0.0.1"),
        healthPort: await freePort("127.0.0.1"),
      }),
    );
    let stderr = "";
    const envoy = spawn(
      await envoyBinary(),
      [
        ...["-c", config, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warning"],
        ...["--service-node", nodeOf(POD), "--service-cluster", NS],
      ],
      { cwd: dir, env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "ignore", "pipe"] },
    );
    envoys.push(envoy);
    envoy.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    // LIVE needs the first CDS and LDS responses (the bootstrap waits for them with no timeout).
    await eventually(async () => {
      assert.equal(envoy.exitCode, null, `Envoy exited: ${stderr}`);
      const ready = await fetch(`http://127.0.0.1:${adminPort}/ready`).catch(() => undefined);
      assert.equal(ready?.status, 200, `not LIVE yet: ${stderr.slice(-2000)}`);
    }, 60_000);
    const stats = await (await fetch(`http://127.0.0.1:${adminPort}/stats?filter=cds.update_success`)).text();
    assert.match(stats, /cluster_manager\.cds\.update_success: [1-9]/);
  });
});
