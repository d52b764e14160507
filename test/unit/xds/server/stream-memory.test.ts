import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { JsonObject } from "@bufbuild/protobuf";
import type { StatusObject } from "@grpc/grpc-js";
import { DeltaClient, SotwClient, type ClientNode } from "../../../support/ads-client.js";
import { encodeJson, typeUrl } from "../../../../src/xds/protos/registry.js";
import { DEFAULT_STREAM_LIMITS as LIMITS } from "../../../../src/xds/server/limits.js";
import { CLUSTER, ENDPOINTS } from "../../../support/fake-snapshot-source.js";

const PROBE = fileURLToPath(new URL("../../../support/ads-heap-probe.ts", import.meta.url));
const MiB = 1024 * 1024;
const CDS = typeUrl(CLUSTER);
const EDS = typeUrl(ENDPOINTS);

/**
 * What one abusive stream can make the server hold, measured on a server in
 * its own process (heap and Buffers after garbage collection), so the bound
 * is on memory actually retained, not on time. Each attack pushes well past
 * every per-stream limit; the stream may be refused at any point, and what
 * it left behind must stay under the bound while it is open and go once it
 * is closed.
 */
const HELD_BOUND = 16 * MiB;
/** What may stay after the stream is gone: allocator noise, no stream state. */
const RELEASED_BOUND = 3 * MiB;

/** A name of `length` characters, unique per (prefix, i). */
const name = (prefix: string, i: number, length = 48) => `${prefix}-${i}-`.padEnd(length, "x");

interface Attack {
  readonly title: string;
  /** Floods the server through one stream, and resolves when the server has read it all (or ended it). */
  run(address: string): Promise<{ close(): void; status: Promise<StatusObject> }>;
}

/** The server answers a stream's first request of a type after everything sent before it: proof that it read the flood. */
async function processed(client: DeltaClient | SotwClient): Promise<void> {
  client.request({ typeUrl: CDS });
  let ended = false;
  void client.status.then(() => (ended = true));
  // Short waits: a pending one would keep the process alive after the stream ended.
  while (!ended) {
    const response = await client.next(200).catch(() => undefined);
    if (response?.typeUrl === CDS) return;
  }
}

/** Node metadata of as many tiny entries (the most objects per byte) as fit the limit. */
function largestMetadata(): JsonObject {
  const metadata: JsonObject = {};
  for (let i = 0; ; i++) {
    metadata[`k${i}`] = null;
    if (encodeJson("google.protobuf.Struct", metadata).length > LIMITS.maxNodeMetadataBytes) {
      delete metadata[`k${i}`];
      return metadata;
    }
  }
}

/** Every Node field the server keeps, at its limit. */
const largestNode = (): ClientNode => ({
  id: "i".repeat(LIMITS.maxNodeIdBytes),
  cluster: "c".repeat(LIMITS.maxNodeClusterBytes),
  metadata: largestMetadata(),
});

/** As many type URLs as a stream may have, all but CDS (which processed() asks for) as long as allowed. */
const longTypeUrls = (): string[] => [
  EDS,
  ...Array.from({ length: LIMITS.maxTypes - 2 }, (_, t) =>
    `type.googleapis.com/abuse.${t}.`.padEnd(LIMITS.maxTypeUrlCharacters, "x"),
  ),
];

/** The longest names of which maxNames fit in maxNameCharacters. */
const NAME_AT_LIMIT = Math.floor(LIMITS.maxNameCharacters / LIMITS.maxNames);
/** A NACK message of a megabyte of two-byte characters, which V8 keeps at two bytes each. */
const LONG_NACK = "é".repeat(MiB / 2);

const attacks: Attack[] = [
  {
    title: "a delta stream at every limit: node, types, names, NACK messages",
    async run(address) {
      const client = new DeltaClient(address, largestNode());
      const types = longTypeUrls();
      const perType = Math.floor(LIMITS.maxNames / types.length);
      for (const [t, type] of types.entries())
        for (let from = 0; from < perType; from += 1000) {
          const count = Math.min(1000, perType - from);
          client.request({
            typeUrl: type,
            subscribe: Array.from({ length: count }, (_, i) => name(`t${t}`, from + i, NAME_AT_LIMIT)),
          });
        }
      for (let t = 0; t < types.length; t++) client.nack(await client.next(60_000), LONG_NACK);
      await processed(client);
      return client;
    },
  },
  {
    title: "a SotW stream at every limit, with a new subscription to every type, ten times over",
    async run(address) {
      const client = new SotwClient(address, largestNode());
      const types = longTypeUrls();
      const perType = Math.floor(LIMITS.maxNames / types.length);
      for (let round = 0; round < 10; round++)
        for (const [t, type] of types.entries())
          client.request({
            typeUrl: type,
            resourceNames: Array.from({ length: perType }, (_, i) =>
              name(`r${round}t${t}`, i, NAME_AT_LIMIT),
            ),
          });
      await processed(client);
      return client;
    },
  },
  {
    title: "26 MB of delta subscriptions in 1000-name requests, over many types",
    async run(address) {
      const client = new DeltaClient(address, { id: "abuser" });
      for (let r = 0; r < 540; r++) {
        const names = Array.from({ length: 1000 }, (_, i) => name(`r${r}`, i));
        client.request({ typeUrl: r % 2 ? EDS : `type.googleapis.com/abuse.T${r % 20}`, subscribe: names });
      }
      await processed(client);
      return client;
    },
  },
  {
    title: "delta initial_resource_versions: 200,000 names with versions, in one type",
    async run(address) {
      const client = new DeltaClient(address, { id: "abuser" });
      for (let r = 0; r < 4; r++) {
        const versions = Object.fromEntries(
          Array.from({ length: 50_000 }, (_, i) => [name(`v${r}`, i, 40), "v".repeat(24)]),
        );
        client.request({ typeUrl: `type.googleapis.com/abuse.V${r}`, initialResourceVersions: versions });
      }
      await processed(client);
      return client;
    },
  },
  {
    title: "SotW subscriptions of 60,000 names, a new set on each of many requests",
    async run(address) {
      const client = new SotwClient(address, { id: "abuser" });
      for (let r = 0; r < 60; r++) {
        const names = Array.from({ length: 60_000 }, (_, i) => name(`s${r}`, i, 56));
        client.request({
          typeUrl: r % 2 ? EDS : `type.googleapis.com/abuse.S${r % 30}`,
          resourceNames: names,
        });
      }
      await processed(client);
      return client;
    },
  },
  {
    title: "15,000 unknown type URLs",
    async run(address) {
      const client = new DeltaClient(address, { id: "abuser" });
      for (let t = 0; t < 15_000; t++)
        client.request({ typeUrl: `type.googleapis.com/abuse.${name("t", t, 200)}` });
      await processed(client);
      return client;
    },
  },
  {
    title: "a node of 1 MB id, 1 MB cluster and 1 MB of metadata",
    async run(address) {
      const node: ClientNode = {
        id: "i".repeat(MiB),
        cluster: "c".repeat(MiB),
        metadata: Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [name("k", i), {}])),
      };
      const client = new DeltaClient(address, node);
      await processed(client);
      return client;
    },
  },
];

describe("ADS server, memory one abusive stream can hold", function () {
  this.timeout(180_000);
  let probe: ChildProcess;
  let address: string;

  const memory = async (): Promise<number> => {
    probe.send("memory");
    const [reply] = (await once(probe, "message")) as [{ bytes: number }];
    return reply.bytes;
  };

  before(async () => {
    probe = fork(PROBE, [], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      stdio: ["ignore", "pipe", "inherit", "ipc"],
    });
    const [port] = (await once(probe.stdout!, "data")) as [Buffer];
    address = `127.0.0.1:${port.toString().trim()}`;
    // Warm up: the first stream loads code and caches that every later one shares.
    const warm = new DeltaClient(address, { id: "warm-up" });
    await processed(warm);
    warm.close();
  });

  after(() => probe?.disconnect());

  for (const attack of attacks) {
    it(`holds under ${HELD_BOUND / MiB} MiB for ${attack.title}, and nothing once it ends`, async () => {
      const baseline = await memory();
      const stream = await attack.run(address);
      const held = (await memory()) - baseline;
      stream.close();
      await stream.status;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const left = (await memory()) - baseline;
      console.log(`      held ${(held / MiB).toFixed(1)} MiB, left ${(left / MiB).toFixed(1)} MiB`);
      assert.ok(held < HELD_BOUND, `the stream held ${(held / MiB).toFixed(1)} MiB`);
      assert.ok(left < RELEASED_BOUND, `${(left / MiB).toFixed(1)} MiB stayed after the stream ended`);
    });
  }
});
