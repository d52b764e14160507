import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { parse as parseYaml } from "yaml";
import { renderBootstrap } from "../../../src/inject/bootstrap.js";
import { envoyBinary } from "../../../src/localnode/tools.js";
import { LISTENER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { makeClient } from "../../support/grpc/xds-client.js";
import { freePort, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { runSkiff } from "../../support/skiff-cli.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

/**
 * skiff proxy-status and proxy-config, run as a user runs them, against an
 * xDS server on loopback (plaintext, as skiff dev runs it) with a real Envoy
 * and a real grpc-js-xds client connected: their state, a NACK, an Envoy
 * that stops answering, and Envoy's own /config_dump beside proxy-config's.
 */
const NS = "proxy-status";
const READER_ROLE = "skiff-proxy-status-test-reader";
const ENVOY_POD = "reviews-v1";
const ENVOY_NODE = `sidecar~10.0.0.9~${ENVOY_POD}.${NS}~${NS}.svc.cluster.local`;
const GRPC_NODE = "grpc~proxy-status-client";
const LISTENER = `reviews.${NS}.svc.cluster.local:9080`;

describe("skiff proxy-status and proxy-config over CSDS, with a real Envoy and a proxyless client", function () {
  this.timeout(120_000);
  let dir: string;
  let xds: RunningXdsServer;
  let address: string;
  let envoy: ChildProcess | undefined;
  let envoyLog = "";
  let adminPort: number;
  let grpcClient: ReturnType<typeof makeClient> | undefined;
  let tokenFile: string;

  const cli = (command: string, ...args: string[]) =>
    runSkiff(command, ...args, "--xds-address", address, "--plaintext", "--token-file", tokenFile);
  const rowOf = (table: string, name: string) =>
    table
      .split("\n")
      .find((line) => line.startsWith(`${name} `))
      ?.split(/\s{3,}/);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "skiff-proxy-status-"));
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "operator"]);
    await kubectlOk(["create", "clusterrole", READER_ROLE, "--verb=get", "--resource=meshes.skiff.dev"]);
    await kubectlOk([
      ...["create", "clusterrolebinding", READER_ROLE, `--clusterrole=${READER_ROLE}`],
      `--serviceaccount=${NS}:operator`,
    ]);
    await kubectlOk(["create", "service", "clusterip", "reviews", "-n", NS, "--tcp=9080:9080"]);
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, await serviceAccountToken(controlPlane().kubeConfig(), NS, "operator"));
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
      caNamespace: NS,
    });
    address = `127.0.0.1:${xds.port}`;

    adminPort = await freePort("127.0.0.1");
    const config = join(dir, "envoy.json");
    writeFileSync(
      config,
      renderBootstrap({
        xds: { host: "127.0.0.1", port: xds.port },
        adminPort,
        prometheusPort: await freePort("127.0.0.1"),
        healthPort: await freePort("127.0.0.1"),
      }),
    );
    envoy = spawn(
      await envoyBinary(),
      [
        ...["-c", config, "--use-dynamic-base-id", "--concurrency", "1", "--log-level", "warning"],
        ...["--service-node", ENVOY_NODE, "--service-cluster", NS],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    envoy.stdout!.on("data", (chunk: Buffer) => (envoyLog += chunk.toString()));
    envoy.stderr!.on("data", (chunk: Buffer) => (envoyLog += chunk.toString()));
    grpcClient = makeClient({ target: `xds:///${LISTENER}`, xdsServer: address, nodeId: GRPC_NODE });
    grpcClient.getChannel().getConnectivityState(true);
  });

  after(async () => {
    grpcClient?.close();
    if (envoy && envoy.exitCode === null) {
      envoy.kill("SIGCONT");
      envoy.kill("SIGKILL");
    }
    await xds?.stop();
    rmSync(dir, { recursive: true, force: true });
    await kubectlOk(["delete", "clusterrolebinding,clusterrole", READER_ROLE, "--ignore-not-found"]);
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("lists the Envoy sidecar and the proxyless client, each SYNCED, and exits 0", async () => {
    const run = await eventually(async () => {
      const result = await cli("proxy-status");
      assert.equal(result.code, 0, `${result.stdout}${result.stderr}${envoyLog.slice(-2000)}`);
      const sidecar = rowOf(result.stdout, `${ENVOY_POD}.${NS}`);
      const proxyless = rowOf(result.stdout, GRPC_NODE);
      // NAME KIND CDS LDS EDS RDS SDS VERSION LAST-ACK REPLICA
      assert.deepEqual(sidecar?.slice(1, 5), ["sidecar", "SYNCED", "SYNCED", "SYNCED"], result.stdout);
      assert.deepEqual(
        proxyless?.slice(1, 6),
        ["proxyless", "SYNCED", "SYNCED", "SYNCED", "SYNCED"],
        result.stdout,
      );
      return result;
    }, 60_000);
    assert.match(
      run.stdout,
      /^NAME\s+KIND\s+CDS\s+LDS\s+EDS\s+RDS\s+SDS\s+VERSION\s+LAST ACK\s+XDS REPLICA$/m,
    );
    assert.equal(rowOf(run.stdout, GRPC_NODE)?.at(-1), address, "the replica it is connected to");
    assert.equal(run.stderr, "");
  });

  it("proxy-config clusters -o json equals Envoy's own /config_dump of its dynamic active clusters", async () => {
    const fromEnvoy = async () => {
      const dump = (await (
        await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=dynamic_active_clusters`)
      ).json()) as { configs: { cluster: { name: string } }[] };
      return new Map(dump.configs.map((c) => [c.cluster.name, c.cluster]));
    };
    const result = await cli("proxy-config", "clusters", `${ENVOY_POD}.${NS}`, "-o", "json");
    assert.equal(result.code, 0, result.stderr);
    const ours = JSON.parse(result.stdout) as {
      configs: { dynamic_active_clusters: { cluster: { name: string }; version_info: string }[] }[];
    };
    const clusters = ours.configs[0]!.dynamic_active_clusters;
    assert.ok(clusters.length >= 2, `a sidecar has several clusters: ${result.stdout.slice(0, 500)}`);
    assert.ok(
      clusters.every((c) => c.version_info),
      "each with its version",
    );
    const envoys = await fromEnvoy();
    assert.deepEqual(
      new Map(clusters.map((c) => [c.cluster.name, c.cluster])),
      envoys,
      "the same resources, field for field",
    );
    const table = await cli("proxy-config", "clusters", ENVOY_POD, "-n", NS);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+TYPE\s+LB POLICY\s+CONNECT TIMEOUT\s+TLS$/m);
    for (const name of envoys.keys()) assert.ok(rowOf(table.stdout, name), `${name} in\n${table.stdout}`);
  });

  it("proxy-config listeners and routes -o yaml equal Envoy's /config_dump of its dynamic listeners and routes", async () => {
    const envoyDump = async (resource: string) =>
      (
        (await (await fetch(`http://127.0.0.1:${adminPort}/config_dump?resource=${resource}`)).json()) as {
          configs?: Record<string, unknown>[];
        }
      ).configs ?? []; // Envoy answers {} when it has none
    const ours = async (kind: string) => {
      const result = await cli("proxy-config", kind, `${ENVOY_POD}.${NS}`, "-o", "yaml");
      assert.equal(result.code, 0, result.stderr);
      return (parseYaml(result.stdout) as { configs: Record<string, Record<string, unknown>[]>[] })
        .configs[0]!;
    };
    const listeners = (await ours("listeners"))["dynamic_listeners"]!;
    assert.ok(listeners.length >= 1, "a sidecar has listeners");
    const byName = (list: Record<string, unknown>[], pick: (entry: Record<string, unknown>) => unknown) =>
      new Map(list.map((entry) => [(pick(entry) as { name: string }).name, pick(entry)]));
    const activeListener = (entry: Record<string, unknown>) =>
      (entry["active_state"] as Record<string, unknown>)["listener"];
    assert.deepEqual(
      byName(listeners, activeListener),
      byName(await envoyDump("dynamic_listeners"), activeListener),
    );
    const routes = (await ours("routes"))["dynamic_route_configs"] ?? [];
    const routeConfig = (entry: Record<string, unknown>) => entry["route_config"];
    assert.deepEqual(
      byName(routes, routeConfig),
      byName(await envoyDump("dynamic_route_configs"), routeConfig),
    );
  });

  it("proxy-config listeners and routes of the proxyless client, as tables", async () => {
    const listeners = await cli("proxy-config", "listeners", GRPC_NODE);
    assert.equal(listeners.code, 0, listeners.stderr);
    assert.deepEqual(rowOf(listeners.stdout, LISTENER)?.slice(1), [
      "api_listener",
      "0",
      "http_connection_manager",
    ]);
    const routes = await cli("proxy-config", "all", GRPC_NODE);
    assert.equal(routes.code, 0, routes.stderr);
    assert.match(routes.stdout, /^ROUTES\nROUTE CONFIG\s+VIRTUAL HOST\s+DOMAINS\s+MATCH\s+CLUSTER$/m);
    assert.match(routes.stdout, new RegExp(`reviews\\.${NS}\\.svc\\.cluster\\.local[^\\n]*prefix /`));
  });

  it("shows a NACK as NACKED with the proxy's error, and exits 1", async () => {
    const nacker = new SotwClient(address, {
      id: "grpc~proxy-status-nacker",
      metadata: { GENERATOR: "grpc" },
    });
    try {
      nacker.request({ typeUrl: LISTENER_TYPE, resourceNames: [LISTENER] });
      nacker.nack(await nacker.next(), "listener rejected by the test proxy");
      const result = await eventually(async () => {
        const run = await cli("proxy-status");
        assert.deepEqual(
          rowOf(run.stdout, "grpc~proxy-status-nacker")?.slice(2, 4),
          ["NOT SENT", "NACKED"],
          run.stdout,
        );
        return run;
      });
      assert.equal(result.code, 1);
      assert.match(
        result.stdout,
        /grpc~proxy-status-nacker NACKED LDS version \S+: listener rejected by the test proxy/,
      );
      const diff = await cli("proxy-status", "grpc~proxy-status-nacker");
      assert.equal(diff.code, 1);
      assert.match(diff.stdout, /^\+\+\+ LDS the control plane wants/m, diff.stdout);
      assert.match(diff.stdout, new RegExp(`^\\+\\s+name: ${LISTENER.replaceAll(".", "\\.")}$`, "m"));
    } finally {
      nacker.close();
    }
  });

  it("a stopped Envoy goes STALE: exit 1 once it waits longer than --stale-after, SYNCED again when it resumes", async () => {
    envoy!.kill("SIGSTOP");
    try {
      // A new Service changes every sidecar's clusters: the server sends them, and Envoy cannot answer.
      await kubectlOk(["create", "service", "clusterip", "ratings", "-n", NS, "--tcp=9080:9080"]);
      const stale = await eventually(async () => {
        const run = await cli("proxy-status", "--stale-after", "1s");
        assert.equal(rowOf(run.stdout, `${ENVOY_POD}.${NS}`)?.[2], "STALE", run.stdout);
        assert.match(run.stdout, new RegExp(`${ENVOY_POD}\\.${NS} STALE CDS: no answer for`));
        return run;
      });
      assert.equal(stale.code, 1);
      const patient = await cli("proxy-status", "--stale-after", "1h");
      assert.equal(rowOf(patient.stdout, `${ENVOY_POD}.${NS}`)?.[2], "STALE");
      assert.equal(patient.code, 0, `STALE for less than --stale-after is not a failure: ${patient.stdout}`);
      const diff = await cli("proxy-status", `${ENVOY_POD}.${NS}`);
      assert.match(diff.stdout, /CDS: sent version \S+ is not answered yet; the proxy last ACKed \S+/);
    } finally {
      envoy!.kill("SIGCONT");
    }
    await eventually(async () => {
      const run = await cli("proxy-status");
      assert.equal(rowOf(run.stdout, `${ENVOY_POD}.${NS}`)?.[2], "SYNCED", run.stdout);
      assert.equal(run.code, 0);
    });
  });

  it("merges replicas: a proxy two of them report is shown once, and stderr says so", async () => {
    const run = await cli("proxy-status", "--xds-address", address);
    assert.equal(run.code, 0, run.stderr);
    const names = run.stdout
      .split("\n")
      .slice(1)
      .map((line) => line.split(/\s{3,}/)[0]);
    assert.deepEqual(names.filter((name) => name === GRPC_NODE).length, 1, run.stdout);
    assert.match(
      run.stderr,
      new RegExp(
        `^skiff proxy-status: ${GRPC_NODE} is connected to both ${address} and ${address}; showing the newer`,
        "m",
      ),
    );
  });

  it("an unknown Pod and an unreachable xDS server: one line and exit 1", async () => {
    const unknown = await cli("proxy-config", "clusters", "nosuch", "-n", NS);
    assert.equal(unknown.code, 1);
    assert.deepEqual(unknown.stderr.trim().split("\n"), [
      `skiff proxy-config: no proxy of the Pod ${NS}/nosuch is connected to the xDS servers asked`,
    ]);
    const unreachable = await runSkiff(
      ...["proxy-status", "--xds-address", "127.0.0.1:1", "--plaintext", "--token-file", tokenFile],
    );
    assert.equal(unreachable.code, 1);
    const lines = unreachable.stderr.trim().split("\n");
    assert.equal(lines.length, 1, unreachable.stderr);
    assert.match(
      lines[0]!,
      /^skiff proxy-status: xDS server 127\.0\.0\.1:1 did not answer: no answer \(UNAVAILABLE\)/,
    );
    const badToken = join(dir, "bad-token");
    writeFileSync(badToken, "not-a-token");
    const refused = await runSkiff(
      "proxy-status",
      "--xds-address",
      address,
      "--plaintext",
      "--token-file",
      badToken,
    );
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^skiff proxy-status: xDS server \S+ did not answer: the token was refused \(UNAUTHENTICATED\)/,
    );
  });
});
