/**
 * `xdsbench load` holding N simulated Envoy sidecars on the xDS server, with
 * its `expect` command (hack/xdsbench/expect.go): the time at which each
 * proxy ACKed the first response carrying a marker; and its `window`
 * command (window.go): what the proxies received meanwhile.
 */
import type { Child } from "../shared/child.js";
import { startLoad, type Mode } from "../shared/xdsbench.js";

export type { Mode };

/** What `expect` reports once every proxy has ACKed a response with the marker (Unix ms, µs precision). */
export interface Expected {
  id: string;
  proxies: number;
  /** When the generator first received a resource holding the marker. */
  firstSeenUnixMs: number;
  firstAckUnixMs: number;
  p50AckUnixMs: number;
  p99AckUnixMs: number;
  lastAckUnixMs: number;
}

/** Bytes and responses the proxies received, all of them together. */
export interface Received {
  bytes: number;
  responses: number;
  /** Bytes of the responses they ACKed, by short type (cds, eds, lds, rds). */
  bytesByType: Record<string, number>;
}

export class Load {
  private constructor(
    readonly child: Child,
    readonly proxies: number,
    readonly mode: Mode,
    /** The generator's report of the cold start: every proxy complete. */
    readonly started: Record<string, number | string>,
  ) {}

  /** Starts N proxies and resolves once each holds a complete, ACKed configuration. */
  static async start(xdsbench: string, target: string, proxies: number, mode: Mode, timeoutS: number) {
    const child = startLoad(xdsbench, {
      target,
      proxies,
      mode,
      prefix: `convergence-${mode}`,
      timeoutS,
      extra: ["--hold", "86400"],
    });
    const started = await child.json("every proxy complete", timeoutS * 1000 + 60_000);
    if (started.event !== "complete" || started.failures !== 0) {
      await child.stop();
      throw new Error(`the proxies did not all complete: ${JSON.stringify(started)}`);
    }
    return new Load(child, proxies, mode, started);
  }

  /** Arms an expectation; resolves once the generator has it, so a change written afterwards cannot be missed. */
  async arm(id: string, marker: string): Promise<void> {
    if (/\s/.test(id) || marker.includes("\n")) throw new Error(`bad expectation ${id} ${marker}`);
    this.child.send(`expect ${id} ${marker}`);
    const line = await this.event(
      (e) => (e.event === "expect-armed" && e.id === id) || e.event === "error",
      30_000,
    );
    if (line.event === "error") throw new Error(`xdsbench load: ${String(line.error)}`);
  }

  /** Resolves when every proxy has ACKed the marker; on timeout, says how many had. */
  async expected(id: string, timeoutMs: number): Promise<Expected> {
    try {
      return (await this.event((e) => e.event === "expect" && e.id === id, timeoutMs)) as unknown as Expected;
    } catch (error) {
      this.child.send(`expect-status ${id}`);
      const status = await this.event((e) => e.event === "expect-status" && e.id === id, 10_000).catch(
        () => undefined,
      );
      throw new Error(`${String(error)}\nstatus: ${JSON.stringify(status)}`);
    }
  }

  /** What the proxies received since the previous window (or since they started), by type. */
  async window(): Promise<Received> {
    this.child.send("window");
    const w = await this.event((e) => e.event === "window", 30_000);
    const byType = w.byType as Record<string, { bytes: number }>;
    return {
      bytes: Number(w.bytesReceived),
      responses: Number(w.responses),
      bytesByType: Object.fromEntries(Object.entries(byType).map(([t, c]) => [t, c.bytes])),
    };
  }

  async stop(): Promise<void> {
    await this.child.stop();
  }

  private async event(accept: (e: Record<string, unknown>) => boolean, timeoutMs: number) {
    const line = await this.child.line(
      (l) => l.startsWith("{") && accept(JSON.parse(l) as Record<string, unknown>),
      "its answer",
      timeoutMs,
    );
    return JSON.parse(line) as Record<string, unknown>;
  }
}
