import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderBootstrap } from "../../../src/inject/bootstrap.js";
import { envoyBinary } from "../../../src/localnode/tools.js";

/**
 * A sidecar is Ready only once it holds configuration. Envoy's /ready (which
 * the readiness probe reaches through the health listener) answers 200 when
 * the server is LIVE, and by default Envoy goes LIVE after a 15 s
 * initial_fetch_timeout with no listeners at all: its Pod then took traffic
 * that iptables sent to a port nobody listened on ("Couldn't connect to
 * server" in the end-to-end suite, when the first xDS answer was late).
 *
 * Two real Envoys start from the sidecar bootstrap, pointed at an xDS server
 * that accepts connections and never answers: a peer with Envoy's default
 * timeout goes LIVE (after 15 s), and the sidecar's bootstrap stays unready.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("a sidecar without configuration is not ready", function () {
  this.timeout(300_000); // the first run fetches Envoy

  let envoy: string;
  let dir: string;
  let silentXds: Server;
  const held: Socket[] = [];
  const running: ChildProcess[] = [];

  before(async () => {
    envoy = await envoyBinary();
    dir = mkdtempSync(join(tmpdir(), "skiff-envoy-readiness-"));
    silentXds = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silentXds.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    for (const child of running) child.kill("SIGKILL");
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silentXds.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts Envoy on a bootstrap; resolves its admin address once the admin endpoint is up. */
  async function start(name: string, bootstrap: Json): Promise<string> {
    const config = join(dir, `${name}.json`);
    const adminAddress = join(dir, `${name}.admin`);
    writeFileSync(config, JSON.stringify(bootstrap));
    const child = spawn(
      envoy,
      [
        ...["-c", config, "--admin-address-path", adminAddress, "--use-dynamic-base-id"],
        ...["--concurrency", "1", "--service-node", `sidecar~10.1.2.3~${name}.demo~demo.svc.cluster.local`],
        ...["--service-cluster", "demo", "--log-level", "error"],
      ],
      { cwd: dir, env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "ignore", "pipe"] },
    );
    running.push(child);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`${name}: Envoy exited with ${code}: ${stderr}`))),
    );
    const address = (async () => {
      for (;;) {
        const text = await readFile(adminAddress, "utf8").catch(() => undefined);
        if (text) return text.trim();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return Promise.race([address, exited]);
  }

  async function ready(admin: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`http://${admin}/ready`);
    return { status: response.status, body: (await response.text()).trim() };
  }

  it("stays unready while the xDS server has not answered, where Envoy's default timeout goes LIVE", async () => {
    const { port } = silentXds.address() as AddressInfo;
    const bootstrap = JSON.parse(
      renderBootstrap({
        xds: { host: "127.0.0.1", port: port },
        adminPort: 1,
        prometheusPort: 2,
        healthPort: 3,
      }),
    );
    // Ports 1 to 3 only pass renderBootstrap's checks; 0 lets the kernel choose, so runs never collide.
    bootstrap.admin.address.socket_address.port_value = 0;
    for (const listener of bootstrap.static_resources.listeners)
      listener.address.socket_address.port_value = 0;

    // The peer keeps Envoy's default timeout (15 s), which is what this proves the sidecar does not have.
    const peer = structuredClone(bootstrap);
    for (const source of [peer.dynamic_resources.cds_config, peer.dynamic_resources.lds_config])
      delete source.initial_fetch_timeout;

    const sidecar = await start("sidecar", bootstrap);
    const defaults = await start("defaults", peer);

    // An event, not a duration: the peer going LIVE shows the same wait has passed for both.
    for (;;) {
      if ((await ready(defaults)).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const answer = await ready(sidecar);
    assert.equal(answer.status, 503, `the sidecar is ready without configuration: ${answer.body}`);
    assert.match(answer.body, /INITIALIZING/);
  });
});
