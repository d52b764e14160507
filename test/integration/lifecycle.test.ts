import { LISTENER_TYPE } from "../../src/xds/translate/resource.js";
import { SotwClient } from "../support/ads-client.js";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { LocalNode } from "../../src/localnode/local-node.js";
import { childrenOf, commandName, isAlive, waitForExit } from "../support/processes.js";
import { eventually, kubectlOk } from "./kubectl.js";

const spawned = new Set<ChildProcess>();

/** Runs a TypeScript entry point in a new Node process, the way `npx tsx` would. */
function runTs(script: string, args: string[] = []): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: repositoryRoot(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  spawned.add(child);
  child.on("exit", () => spawned.delete(child));
  return child;
}

/**
 * A failed assertion must not leave a child running: its open pipes would keep
 * mocha from ever exiting. SIGKILL also takes down its servers (parent-death signal).
 */
function killSpawned(): void {
  for (const child of spawned) child.kill("SIGKILL");
}

/** The first stdout line that matches. */
async function lineMatching(child: ChildProcess, pattern: RegExp, timeoutMs = 90_000): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    for await (const line of lines) if (pattern.test(line)) return line;
    throw new Error(`the process ended without printing ${pattern}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The first report of the sidecar demo in which every call was answered:
 * the rows between "observed split ..." and "trafficpolicy ...", by version.
 */
async function splitReport(child: ChildProcess, timeoutMs: number): Promise<Record<string, number>> {
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let rows: Record<string, number> | undefined;
  try {
    for await (const line of lines) {
      if (line.startsWith("observed split")) rows = {};
      else if (rows && line.startsWith("trafficpolicy")) {
        if (!("error" in rows)) return rows;
        rows = undefined;
      } else if (rows) {
        const row = /^ {2}(\S+)\s+(\d+)\s/.exec(line);
        if (row) rows[row[1]!] = Number(row[2]);
      }
    }
    throw new Error("skiff dev ended before the demo reported a split with every call answered");
  } finally {
    clearTimeout(timer);
  }
}

describe("local control plane lifecycle", () => {
  afterEach(killSpawned);

  it("stop() ends etcd and kube-apiserver and removes the work folder", async () => {
    const plane = await LocalControlPlane.start({ crdDirectory: null });
    const pids = plane.processIds;
    assert.equal(pids.length, 2);
    assert.ok(pids.every(isAlive));
    await plane.stop();
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(existsSync(plane.workDir), false);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`a program killed with ${signal} leaves no process and no folder behind`, async () => {
      const child = runTs("test/support/hold-control-plane.ts");
      const { pids, workDir } = JSON.parse(await lineMatching(child, /^\{"pids"/));
      child.kill(signal);
      await once(child, "exit");
      await waitForExit(pids);
      assert.equal(existsSync(workDir), false, `${workDir} was left behind`);
    });
  }

  it("a program killed with SIGKILL leaves no process behind (the kernel's parent-death signal)", async () => {
    const child = runTs("test/support/hold-control-plane.ts");
    const { pids, workDir } = JSON.parse(await lineMatching(child, /^\{"pids"/));
    child.kill("SIGKILL");
    await waitForExit(pids);
    rmSync(workDir, { recursive: true, force: true }); // nothing can clean up after SIGKILL but the kernel
  });
});

describe("skiff dev", () => {
  afterEach(killSpawned);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "skiff-dev-test-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("--no-node prints READY, serves the samples with the xDS server in-process, and cleans up everything on Ctrl-C", async () => {
    const kubeconfig = join(dir, "nested", "kubeconfig");
    const dev = runTs("src/cli/main.ts", ["dev", "--no-node", "--kubeconfig", kubeconfig]);
    const ready = await lineMatching(dev, /^READY /);
    assert.match(
      ready,
      new RegExp(
        `^READY kubeconfig=${kubeconfig} apiserver=https://127\\.0\\.0\\.1:\\d+ xds=127\\.0\\.0\\.1:\\d+$`,
      ),
    );
    // The xDS address serves ADS: a proxy subscribing to listeners gets an answer.
    const ads = new SotwClient(/ xds=(\S+)$/.exec(ready)![1]!, {
      id: "sidecar~10.0.0.1~probe.default~default.svc.cluster.local",
    });
    try {
      ads.request({ typeUrl: LISTENER_TYPE });
      const listeners = await ads.next();
      assert.ok(listeners.names.includes("virtualOutbound"), `listeners: ${listeners.names.join(", ")}`);
    } finally {
      ads.close();
    }
    // Other children come and go (tsx's esbuild service), so look for the servers by name.
    const servers = childrenOf(dev.pid!).filter((pid) =>
      ["etcd", "kube-apiserver"].includes(commandName(pid) ?? ""),
    );
    assert.deepEqual(
      servers.map(commandName).sort(),
      ["etcd", "kube-apiserver"],
      "etcd and kube-apiserver run as its children",
    );

    // The traffic demo's proxyless gRPC client reaches reviews v1 through the xDS server, and says so.
    assert.match(await lineMatching(dev, /^ {2}v1 /, 60_000), /^ {2}v1\s+\d+\s+\d+\.\d%$/);

    const out = await kubectlOk(["--kubeconfig", kubeconfig, "get", "meshes,tp,pa,ap", "-A", "-o", "name"]);
    assert.deepEqual(out.trim().split("\n").sort(), [
      "authorizationpolicy.skiff.dev/reviews-viewer",
      "mesh.skiff.dev/default",
      "peerauthentication.skiff.dev/default",
      "trafficpolicy.skiff.dev/reviews", // bookinfo's, from config/samples
      "trafficpolicy.skiff.dev/reviews", // skiff-demo's, from the traffic demo
    ]);
    const namespaces = await kubectlOk([
      "--kubeconfig",
      kubeconfig,
      "get",
      "ns",
      "skiff-system",
      "bookinfo",
      "-o",
      "name",
    ]);
    // The operator runs inside skiff dev: the sample Mesh gets its CA.
    await eventually(async () => {
      const mesh = JSON.parse(
        await kubectlOk(["--kubeconfig", kubeconfig, "get", "mesh", "default", "-o", "json"]),
      );
      assert.equal(
        mesh.status?.conditions?.find((c: { type: string }) => c.type === "CertificateAuthorityReady")
          ?.status,
        "True",
      );
    });
    assert.equal(namespaces.trim().split("\n").length, 2);

    dev.kill("SIGINT");
    const [code] = await once(dev, "exit");
    assert.equal(code, 0);
    await waitForExit(servers);
    assert.equal(existsSync(kubeconfig), false, "the kubeconfig of a stopped server is removed");
  });

  it("with a local node, carries the canary through real Envoy sidecars and leaves nothing behind on Ctrl-C", async function () {
    const unsupported = LocalNode.unsupportedReason();
    if (unsupported) {
      process.stderr.write(`skipped: ${unsupported}\n`);
      this.skip();
    }
    this.timeout(300_000);
    chmodSync(dir, 0o755); // Envoy runs as uid 1337 and reads its volumes under here
    const kubeconfig = join(dir, "kubeconfig");
    const dev = runTs("src/cli/main.ts", ["dev", "--kubeconfig", kubeconfig]);
    const ready = await lineMatching(dev, /^READY /, 120_000);
    assert.match(
      ready,
      new RegExp(`^READY kubeconfig=${kubeconfig} apiserver=https://127\\.0\\.0\\.1:\\d+ node=skiff-local$`),
    );
    // The split the client's sidecar produced: both versions answer, the canary getting the smaller share.
    const split = await splitReport(dev, 240_000);
    assert.ok(
      (split.v1 ?? 0) + (split.v2 ?? 0) === 100 && (split.v2 ?? 0) > 0 && (split.v2 ?? 0) < 30,
      JSON.stringify(split),
    );
    // The generated xDS server runs as a Pod, so the Mesh becomes Ready (its
    // Deployment's status, which the Mesh reads, can trail the traffic).
    await eventually(async () => {
      const mesh = JSON.parse(
        await kubectlOk(["--kubeconfig", kubeconfig, "get", "mesh", "default", "-o", "json"]),
      );
      const ready = mesh.status.conditions.find((c: { type: string }) => c.type === "Ready");
      assert.equal(ready?.status, "True", JSON.stringify(mesh.status.conditions));
    }, 60_000);
    const namespaces = () => readdirSync("/run/netns").filter((n) => n.startsWith(`skiff-${dev.pid}x`));
    assert.ok(namespaces().length > 0, "the node and its Pods have network namespaces");

    dev.kill("SIGINT");
    const [code] = await once(dev, "exit");
    assert.equal(code, 0);
    assert.deepEqual(namespaces(), [], "no network namespace is left behind");
    assert.equal(existsSync(join(dir, "node")), false, "the node's folder is removed");
  });

  it("--no-samples starts empty", async () => {
    const kubeconfig = join(dir, "kubeconfig");
    const dev = runTs("src/cli/main.ts", ["dev", "--no-node", "--no-samples", "--kubeconfig", kubeconfig]);
    await lineMatching(dev, /^READY /);
    const out = await kubectlOk(["--kubeconfig", kubeconfig, "get", "skiff", "-A", "-o", "name"]);
    dev.kill("SIGTERM");
    const [code] = await once(dev, "exit");
    assert.equal(out.trim(), "");
    assert.equal(code, 0);
  });
});
