import type { ChannelOptions } from "@grpc/grpc-js";
import { pino } from "pino";
import type { Counter } from "prom-client";
import type { ProxyResponseStatus } from "../../../../src/xds/cache/snapshot.js";
import { AdsServer, type AdsServerOptions } from "../../../../src/xds/server/ads-server.js";
import { DeltaClient, SotwClient, type ClientNode } from "../../../support/ads-client.js";
import { FakeSnapshotSource } from "../../../support/fake-snapshot-source.js";

/** A real ADS server on a loopback port, fed by a fake source, with clients that stop() closes. */
export class Harness {
  readonly source = new FakeSnapshotSource();
  readonly statuses: ProxyResponseStatus[] = [];
  server?: AdsServer;
  private address = "";
  private readonly clients: { close(): void }[] = [];

  async start(options: AdsServerOptions = {}): Promise<this> {
    this.server = new AdsServer(this.source, {
      logger: pino({ level: process.env.ADS_TEST_LOG ?? "silent" }),
      onResponseStatus: (s) => this.statuses.push(s),
      shutdownGraceMs: 1000,
      ...options,
    });
    const port = await this.server.start("127.0.0.1:0");
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  /** "127.0.0.1:<port>", for clients of a test's own. */
  get serverAddress(): string {
    return this.address;
  }

  /** With a token, the client sends it as `authorization: Bearer <token>`. */
  sotw(node?: ClientNode | null, token?: string, options?: ChannelOptions): SotwClient {
    return this.track(
      new SotwClient(this.address, node === undefined ? { id: "proxy-1" } : node, token, options),
    );
  }

  delta(node?: ClientNode | null, token?: string): DeltaClient {
    return this.track(new DeltaClient(this.address, node === undefined ? { id: "proxy-1" } : node, token));
  }

  async stop(): Promise<void> {
    try {
      for (const c of this.clients) c.close();
    } finally {
      await this.server?.stop();
    }
  }

  private track<T extends { close(): void }>(client: T): T {
    this.clients.push(client);
    return client;
  }
}

/** A counter's current value for one type label. */
export async function counterValue(counter: Counter<"type">, type: string): Promise<number> {
  return (await counter.get()).values.find((v) => v.labels.type === type)?.value ?? 0;
}

/** Resolves once `check` holds, polling; fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
