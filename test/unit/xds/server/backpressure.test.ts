import assert from "node:assert/strict";
import { connect as http2Connect, type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { messageType, typeUrl } from "../../../../src/xds/protos/registry.js";
import { SOTW_PATH } from "../../../../src/xds/server/service-definition.js";
import { OWN_CONNECTION, type DeltaClient } from "../../../support/ads-client.js";
import {
  CLUSTER,
  ENDPOINTS,
  LISTENER,
  ROUTE,
  fixtures as f,
  type FakeSnapshotSource,
} from "../../../support/fake-snapshot-source.js";
import { Harness, eventually } from "./harness.js";

const CDS = typeUrl(CLUSTER);
const EDS = typeUrl(ENDPOINTS);
const LDS = typeUrl(LISTENER);
const RDS = typeUrl(ROUTE);
const DISCOVERY = "envoy.service.discovery.v3";

interface RawResponse {
  readonly typeUrl: string;
  readonly versionInfo: string;
  readonly nonce: string;
  readonly resources: readonly Uint8Array[];
}

/**
 * A SotW proxy on Node's own HTTP/2 client, so that it can stop reading:
 * grpc-js' client keeps reading into a buffer of 16 messages whatever the
 * application does, Node's HTTP/2 stream stops taking data (and so stops
 * opening its flow-control window) when paused.
 */
class RawSotwProxy {
  readonly responses: RawResponse[] = [];
  private readonly session: ClientHttp2Session;
  private readonly stream: ClientHttp2Stream;
  private pending = Buffer.alloc(0);
  private sentNode = false;

  constructor(
    address: string,
    private readonly id: string,
  ) {
    this.session = http2Connect(`http://${address}`);
    this.session.on("error", () => {});
    this.stream = this.session.request({
      ":method": "POST",
      ":path": SOTW_PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    this.stream.on("error", () => {});
    this.stream.on("data", (chunk: Buffer) => this.receive(chunk));
  }

  request(type: string, response?: RawResponse): void {
    const desc = messageType(`${DISCOVERY}.DiscoveryRequest`);
    const message = toBinary(
      desc,
      create(desc, {
        typeUrl: type,
        versionInfo: response?.versionInfo ?? "",
        responseNonce: response?.nonce ?? "",
        ...(this.sentNode ? {} : { node: { id: this.id } }),
      } as never),
    );
    this.sentNode = true;
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    this.stream.write(frame);
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    this.stream.close();
    this.session.close();
  }

  private receive(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5 && this.pending.length >= 5 + this.pending.readUInt32BE(1)) {
      const length = this.pending.readUInt32BE(1);
      const m = fromBinary(
        messageType(`${DISCOVERY}.DiscoveryResponse`),
        this.pending.subarray(5, 5 + length),
      ) as unknown as Omit<RawResponse, "resources"> & { resources: { value: Uint8Array }[] };
      this.responses.push({
        typeUrl: m.typeUrl,
        versionInfo: m.versionInfo,
        nonce: m.nonce,
        resources: m.resources.map((r) => new Uint8Array(r.value)),
      });
      this.pending = this.pending.subarray(5 + length);
    }
  }
}

/** A Cluster whose encoding is about `bytes` long (its alt_stat_name), to fill a stream's window. */
const bigCluster = (source: FakeSnapshotSource, name: string, bytes: number, mark: string) =>
  source.encode(CLUSTER, name, {
    name,
    type: "EDS",
    alt_stat_name: mark.repeat(Math.ceil(bytes / mark.length)),
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
  });

describe("ADS server, pushes spread over the event loop and within a byte budget", () => {
  let h: Harness;
  afterEach(() => h.stop());

  it("keeps make-before-break order (CDS, EDS, LDS, RDS) on each of many proxies pushed in slices", async () => {
    h = await new Harness().start();
    const generation = (connectTimeout: string, ip: string, port: number, cluster: string) =>
      h.source.set(
        f.cluster(h.source, "c1", connectTimeout),
        f.endpoints(h.source, "c1", ip),
        f.listener(h.source, "l1", port),
        f.route(h.source, "r1", cluster),
      );
    generation("1s", "10.0.0.1", 15001, "c1");
    const sotw = Array.from({ length: 25 }, (_, i) => h.sotw({ id: `sotw-${i}` }));
    const delta: DeltaClient[] = Array.from({ length: 25 }, (_, i) => h.delta({ id: `delta-${i}` }));
    for (const p of sotw) {
      p.request({ typeUrl: CDS });
      p.request({ typeUrl: EDS, resourceNames: ["c1"] });
      p.request({ typeUrl: LDS });
      p.request({ typeUrl: RDS, resourceNames: ["r1"] });
    }
    for (const p of delta) {
      p.request({ typeUrl: CDS });
      p.request({ typeUrl: EDS, subscribe: ["c1"] });
      p.request({ typeUrl: LDS });
      p.request({ typeUrl: RDS, subscribe: ["r1"] });
    }
    for (const p of sotw) for (let i = 0; i < 4; i++) p.ack(await p.next());
    for (const p of delta) for (let i = 0; i < 4; i++) p.ack(await p.next());
    await eventually(() => h.statuses.length === 200);

    generation("2s", "10.0.0.2", 15002, "c1-new");
    for (const p of [...sotw, ...delta]) {
      const types = [];
      for (let i = 0; i < 4; i++) types.push((await p.next()).typeUrl);
      // A delta proxy also gets c1's endpoints again after the changed cluster: Envoy warms it on them.
      assert.deepEqual(types, [CDS, EDS, LDS, RDS]);
    }
  });

  it("holds pushes to a proxy that stops reading, serves the others meanwhile, and then sends it only the newest", async () => {
    h = await new Harness().start({ limits: { pushBudgetBytes: 256 * 1024 } });
    let port = 15001;
    const listener = () => f.listener(h.source, "l1", port);
    let cluster = f.cluster(h.source, "c1");
    h.source.set(cluster, listener());

    const slow = new RawSotwProxy(h.serverAddress, "slow");
    const fast = h.sotw({ id: "fast" }, undefined, OWN_CONNECTION);
    try {
      slow.request(CDS);
      slow.request(LDS);
      fast.request({ typeUrl: CDS });
      fast.request({ typeUrl: LDS });
      await eventually(() => slow.responses.length === 2);
      for (const r of slow.responses) slow.request(r.typeUrl, r);
      fast.ack(await fast.next());
      fast.ack(await fast.next());
      await eventually(() => h.statuses.length === 4);

      // The slow proxy stops reading, and is written a Cluster far larger than its HTTP/2 window.
      slow.pause();
      cluster = bigCluster(h.source, "c1", 1024 * 1024, "x");
      h.source.set(cluster, listener());
      fast.ack(await fast.next());
      // Two listener changes while the slow proxy's CDS response is not taken: the fast one gets both.
      for (const next of [15002, 15003]) {
        port = next;
        h.source.set(cluster, listener());
        const pushed = await fast.next();
        assert.equal(pushed.typeUrl, LDS);
        assert.deepEqual(pushed.resources[0]!.value, listener().bytes);
        fast.ack(pushed);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = slow.responses.length;
      assert.equal(before, 2, "the paused proxy got nothing new");

      slow.resume();
      await eventually(() => slow.responses.length >= before + 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = slow.responses.slice(before);
      assert.deepEqual(
        after.map((r) => r.typeUrl),
        [CDS, LDS],
        "the big cluster, then one listener response: not the one in between",
      );
      assert.deepEqual(after[1]!.resources[0], listener().bytes, "the newest listener");
      await fast.expectNothing(100);
    } finally {
      slow.close();
    }
  });
});
