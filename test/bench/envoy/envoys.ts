/**
 * Many real Envoy sidecars on loopback (B8): each its own process with
 * `--concurrency 1`, its own admin, Prometheus and health ports, and a node
 * id naming a Pod of its own, as the sidecar bootstrap (src/inject/bootstrap.ts)
 * gives a meshed Pod. They dial `skiff xds` directly, plaintext and without a
 * token (the server runs with --insecure): in a real Pod the agent carries
 * the stream over TLS, which is not what B8 measures.
 *
 * The outbound listeners that xDS gives every sidecar (0.0.0.0:15001 and the
 * like) are bound by all of them at once: Envoy binds listeners with
 * SO_REUSEPORT, and they all run as the same user.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderBootstrap } from "../../../src/inject/bootstrap.js";
import { Child } from "../shared/child.js";
import { memoryKiB } from "../shared/proc.js";
import { benchNodeId, NAMESPACE } from "../xds/fixture.js";
import { adminGet } from "./admin.js";

export interface Envoy {
  readonly index: number;
  readonly nodeId: string;
  readonly adminPort: number;
  readonly child: Child;
}

/**
 * Where the Envoys' own ports are looked for: below Linux's ephemeral range
 * (32768 and up by default), which every outgoing connection on the machine
 * draws from, so that a port found free here is not taken by one before its
 * Envoy binds it (a run lost an Envoy to exactly that).
 */
const PORT_RANGE = { first: 20_000, last: 32_000 };

/** Binds 0.0.0.0:port (the Prometheus and health listeners bind 0.0.0.0); undefined if it is taken. */
function hold(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => resolve(server));
  });
}

/** `count` ports that are free now: each bound, all held at once, then released. */
async function freePorts(count: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    // A random start, so that two runs at once do not race for the same ports.
    const span = PORT_RANGE.last - PORT_RANGE.first;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span && held.length < count; i++) {
      const server = await hold(PORT_RANGE.first + ((start + i) % span));
      if (server) held.push(server);
    }
    if (held.length < count)
      throw new Error(`only ${held.length} free ports in ${JSON.stringify(PORT_RANGE)}`);
    return held.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

export class EnvoyFleet {
  private constructor(
    readonly envoys: readonly Envoy[],
    private readonly dir: string,
  ) {}

  /**
   * Starts `count` Envoys against the ADS server at `xds` (host:port) and
   * resolves once every admin endpoint answers. Each Envoy's node id is
   * benchNodeId(i, "envoy"): Pod envoy-<i> in the benchmark's namespace.
   */
  static async start(binary: string, xds: string, count: number): Promise<EnvoyFleet> {
    const [host, port] = xds.split(":") as [string, string];
    const dir = mkdtempSync(join(tmpdir(), "skiff-bench-envoy-"));
    const ports = await freePorts(3 * count);
    const envoys: Envoy[] = [];
    const fleet = new EnvoyFleet(envoys, dir);
    try {
      for (let i = 0; i < count; i++) {
        const [adminPort, prometheusPort, healthPort] = ports.slice(3 * i, 3 * i + 3) as [
          number,
          number,
          number,
        ];
        const bootstrap = join(dir, `envoy-${i}.json`);
        writeFileSync(
          bootstrap,
          renderBootstrap({ xds: { host, port: Number(port) }, adminPort, prometheusPort, healthPort }),
        );
        const nodeId = benchNodeId(i, "envoy");
        // The sidecar's own arguments (sidecarArgs), with --concurrency 1 and a base id of its own:
        // Envoys on one host share a hot-restart shared-memory region unless each has its own.
        const child = new Child(`envoy ${i}`, [
          binary,
          "-c",
          bootstrap,
          "--service-node",
          nodeId,
          "--service-cluster",
          NAMESPACE,
          "--log-level",
          "warning",
          "--concurrency",
          "1",
          "--disable-hot-restart",
          "--drain-strategy",
          "immediate",
        ]);
        envoys.push({ index: i, nodeId, adminPort, child });
      }
      await Promise.all(envoys.map((e) => waitAdmin(e)));
      return fleet;
    } catch (error) {
      await fleet.stop();
      throw error;
    }
  }

  /** Resolves once every Envoy's /ready answers LIVE: it has applied its first CDS and LDS responses. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      this.envoys.map(async (envoy) => {
        for (;;) {
          const state = await adminGet(envoy.adminPort, "/ready").catch(() => "");
          if (state.trim() === "LIVE") return;
          if (Date.now() > deadline) throw new Error(`envoy ${envoy.index}: not LIVE after ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }),
    );
  }

  /** Each Envoy's resident memory, MiB. */
  rssMiB(): number[] {
    return this.envoys.map((e) => memoryKiB(e.child.pid, "VmRSS") / 1024);
  }

  async stop(): Promise<void> {
    await Promise.all(this.envoys.map((e) => e.child.stop("SIGTERM", 5_000)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Waits until the Envoy's admin endpoint answers (or it exits: then its stderr is in the error). */
async function waitAdmin(envoy: Envoy, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void envoy.child.exited.then(() => (exited = true));
  for (;;) {
    if (
      await adminGet(envoy.adminPort, "/server_info").then(
        () => true,
        () => false,
      )
    )
      return;
    if (exited) await envoy.child.line(() => false, "its admin endpoint", 0);
    if (Date.now() > deadline)
      throw new Error(`envoy ${envoy.index}: no admin endpoint after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
