import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { connect as http2Connect, constants as h2, type ClientHttp2Session } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { create, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import fc from "fast-check";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { DELTA_PATH, SOTW_PATH } from "../../../../src/xds/server/service-definition.js";
import { MAX_REQUEST_BYTES } from "../../../../src/xds/server/limits.js";
import {
  CLUSTER as CLUSTER_TYPE,
  ENDPOINT as ENDPOINT_TYPE,
  LISTENER as LISTENER_TYPE,
  ROUTE as ROUTE_TYPE,
  SECRET as SECRET_TYPE,
} from "../../../../src/xds/server/type-urls.js";
import { DeltaClient, OWN_CONNECTION, SotwClient, type ClientNode } from "../../../support/ads-client.js";

/**
 * Issue 14, second invariant, the ADS half: no byte sequence on the ADS
 * port crashes the xDS server or makes it keep memory. Searched with
 * fast-check against the real AdsServer in a process of its own (the
 * ads-heap-probe that stream-memory.test.ts measures, here with the
 * pipeline's MeshSnapshots behind it and a credentials check), at three
 * layers, from raw to structured, so that the search gets past each
 * parser into the code behind it:
 *
 * (a) bytes on a TCP connection: anything, or HTTP/2 frames (valid, lying
 *     about their length, of any type and flags) after the connection
 *     preface, after SETTINGS, or after a well-formed gRPC request's HEADERS;
 * (b) HTTP/2 requests, through Node's HTTP/2 client, to the ADS methods, a
 *     Secret Discovery Service path (the server serves SDS over ADS only,
 *     so that one must be UNIMPLEMENTED) and others, with any content-type,
 *     grpc-encoding (gzip and deflate of garbage, bombs, truncated streams),
 *     authorization and other headers, and gRPC length-prefixed frames that
 *     are truncated, oversized, lie about their length or their
 *     compression; ended, reset or left open;
 * (c) well-framed gRPC messages, on both SotW and delta methods: arbitrary
 *     bytes, DiscoveryRequest and DeltaDiscoveryRequest built from their
 *     fields (nodes that name Pods, proxyless metadata, known and unknown
 *     type URLs, names, nonces, NACKs), the same encodings mutated byte by
 *     byte, each method's messages on the other's, ACKs and NACKs of what the
 *     server sent, with good, slow, refused and uncheckable tokens.
 *
 * After every case: the server process is alive and serves a new proxy
 * (a CDS request gets clusters), neither process had an uncaught exception
 * or unhandled rejection. The server's longest event-loop stall, and the
 * case it was in, is reported (not asserted: timing belongs in benchmarks,
 * and a busy machine stalls any process). A gRPC stream the client half-closed gets its status; no
 * status of a well-framed call is INTERNAL or UNKNOWN (an exception in the
 * server's own code). At the end: a stream opened before the search is
 * still served, and once every connection is closed the server holds no
 * proxy and at most RETAINED_BOUND more memory than before the search (see
 * there). Every gRPC client has a connection of its own, as proxies do
 * (see OWN_CONNECTION).
 *
 * `make test-unit` runs a seeded budget; `make search` (SKIFF_SEARCH_RUNS,
 * SKIFF_SEARCH_SEED) a longer one with a fresh seed.
 */

const LONG_RUNS = Number(process.env["SKIFF_SEARCH_RUNS"] ?? 0);
const SEED =
  process.env["SKIFF_SEARCH_SEED"] !== undefined
    ? Number(process.env["SKIFF_SEARCH_SEED"])
    : LONG_RUNS > 0
      ? Date.now() % 2 ** 31
      : 14_0002;
/** Runs per layer: (c) reaches the most code, (a) the least. */
const RUNS = { raw: LONG_RUNS || 40, http2: LONG_RUNS || 50, grpc: LONG_RUNS || 80 };

const MiB = 1024 * 1024;
/**
 * What the server may hold after the whole search, with every connection
 * closed, over what it held after a warm-up of each layer. Nothing of a
 * case is meant to stay: a stream's state goes with it, name sets are
 * interned weakly, and views, metrics labels and caches are bounded by
 * the mesh, not by what proxies send. What does grow is V8's code and
 * feedback for paths first taken late in the search, and allocator
 * slack, which levels off: about 1 MiB here at the unit budget, 2 to 3 at
 * 2000 to 10,000 runs a layer (stream-memory.test.ts allows 3 MiB after one
 * stream; 4000 connections opened and closed leave 0.5). 6 MiB leaves room
 * for that and is still below what one leaked request of the largest
 * kind (MAX_REQUEST_BYTES, 4 MiB) plus that noise would show, and a leak of
 * 1 KiB a case at make search's 30,000 cases.
 */
const RETAINED_BOUND = 6 * MiB;

const PROBE = fileURLToPath(new URL("../../../support/ads-heap-probe.ts", import.meta.url));
const SDS_PATH = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";
const DISCOVERY = "envoy.service.discovery.v3";
const KNOWN_TYPES = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE];
/** Pods of the served mesh (test/testdata/translate), so nodes get views of their own. */
const SIDECAR_IDS = [
  "sidecar~10.1.0.1~reviews-v1.bookinfo~bookinfo.svc.cluster.local",
  "sidecar~10.1.0.21~ratings-v1.bookinfo~bookinfo.svc.cluster.local",
  "sidecar~~.~",
  "sidecar~x~.bookinfo~",
  "grpc~client",
];
const RESOURCE_NAMES = [
  "outbound|9090||ratings.bookinfo.svc.cluster.local",
  "outbound|9080||reviews.bookinfo.svc.cluster.local",
  "9080",
  "*",
  "default",
  "ROOTCA",
  "",
];

// --- Arbitraries ----------------------------------------------------------------

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
/** A long run of one character: a value at or past a limit. */
const long = fc
  .tuple(fc.constantFrom("a", "é", "~", "\n"), fc.constantFrom(257, 1025, 16 * 1024 + 1, 300_000))
  .map(([c, n]) => c.repeat(n));
const text = fc.oneof(
  { weight: 12, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 1, arbitrary: long },
);
const typeUrl = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KNOWN_TYPES) },
  { weight: 2, arbitrary: fc.constantFrom("", "type.googleapis.com/", "type.googleapis.com/unknown.T") },
  { weight: 2, arbitrary: text.map((t) => `type.googleapis.com/${t}`) },
  { weight: 1, arbitrary: text },
);
const names = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...RESOURCE_NAMES) }, text), {
  maxLength: 12,
});
const metadata: fc.Arbitrary<JsonObject> = fc.oneof(
  fc.constant({}),
  fc.constant({ GENERATOR: "grpc" }),
  fc.constant({ GENERATOR: "grpc", SKIFF_CERTIFICATE_PROVIDER: "default" }),
  fc.dictionary(
    fc.oneof(fc.constantFrom("GENERATOR", "__proto__", "constructor"), fc.string()),
    fc.jsonValue(),
    {
      maxKeys: 6,
    },
  ) as fc.Arbitrary<JsonObject>,
);
const node: fc.Arbitrary<ClientNode> = fc.record(
  {
    id: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SIDECAR_IDS) }, text),
    cluster: text,
    metadata,
  },
  { requiredKeys: ["id"] },
);
/** A node the server serves: a Pod of the mesh, as a sidecar or a proxyless application. */
const servedNode: fc.Arbitrary<ClientNode> = fc.record({
  id: fc.constantFrom(...SIDECAR_IDS),
  metadata: fc.constantFrom<JsonObject>(
    {},
    { GENERATOR: "grpc" },
    { GENERATOR: "grpc", SKIFF_CERTIFICATE_PROVIDER: "default" },
  ),
});
const errorDetail = fc.record({ code: fc.integer(), message: text });
const nonce = fc.oneof(fc.constantFrom("", "1", "0", "1-1", "stale"), text);

const sotwRequest = fc.record(
  {
    versionInfo: text,
    node,
    resourceNames: names,
    typeUrl,
    responseNonce: nonce,
    errorDetail,
  },
  { requiredKeys: ["typeUrl"] },
);
const deltaRequest = fc.record(
  {
    node,
    typeUrl,
    resourceNamesSubscribe: names,
    resourceNamesUnsubscribe: names,
    initialResourceVersions: fc.dictionary(fc.oneof(fc.constantFrom(...RESOURCE_NAMES), text), text, {
      maxKeys: 6,
    }),
    responseNonce: nonce,
    errorDetail,
  },
  { requiredKeys: ["typeUrl"] },
);

function encode(message: "DiscoveryRequest" | "DeltaDiscoveryRequest", init: object): Uint8Array {
  const desc = messageType(`${DISCOVERY}.${message}`);
  return toBinary(desc, create(desc, init as never));
}
const encodedSotw = sotwRequest.map((r) => encode("DiscoveryRequest", r));
const encodedDelta = deltaRequest.map((r) => encode("DeltaDiscoveryRequest", r));

/** Byte-level mutations of an encoding: the protobuf decoder's edge cases. */
type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; value: number }
  | { op: "cut"; at: number; length: number }
  | { op: "insert"; at: number; value: Uint8Array }
  | { op: "truncate"; at: number }
  | { op: "repeat"; at: number; length: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip"), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    op: fc.constant("set"),
    at: fc.nat(),
    value: fc.constantFrom(0, 0x7f, 0x80, 0xff, 0x0a, 0x12),
  }),
  fc.record({ op: fc.constant("cut"), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant("insert"), at: fc.nat(), value: bytes(6) }),
  fc.record({ op: fc.constant("truncate"), at: fc.nat() }),
  fc.record({ op: fc.constant("repeat"), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
) as fc.Arbitrary<Mutation>;

function mutate(encoding: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(encoding);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.op) {
      case "flip":
        if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case "set":
        if (b.length > 0) b[at] = m.value;
        break;
      case "cut":
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case "insert":
        b = Buffer.concat([b.subarray(0, at), m.value, b.subarray(at)]);
        break;
      case "truncate":
        b = b.subarray(0, at);
        break;
      case "repeat":
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
        break;
    }
  }
  return new Uint8Array(b);
}

/** A message body: valid for one method or the other, mutated, or any bytes. */
const messageBody = fc.oneof(
  { weight: 3, arbitrary: encodedSotw },
  { weight: 3, arbitrary: encodedDelta },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.oneof(encodedSotw, encodedDelta), fc.array(mutation, { minLength: 1, maxLength: 4 }))
      .map(([e, m]) => mutate(e, m)),
  },
  { weight: 2, arbitrary: bytes(300) },
);

// --- HTTP/2 by hand (layer a) ----------------------------------------------------

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
  lengthDelta = 0,
): Buffer {
  const header = Buffer.alloc(9);
  const length = Math.max(0, Math.min(2 ** 24 - 1, payload.length + lengthDelta));
  header.writeUIntBE(length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an n-bit prefix. */
function hpackInteger(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out.push((value % 128) | 128);
  out.push(value);
  return out;
}

/** A header block of literals (never indexed, no Huffman): valid HPACK without a table. */
function hpack(headers: readonly [string, string][]): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    out.push(0x10);
    for (const s of [name, value]) {
      const b = Buffer.from(s, "latin1");
      out.push(...hpackInteger(b.length, 7, 0), ...b);
    }
  }
  return Buffer.from(out);
}

const GRPC_HEADERS = (path: string): [string, string][] => [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", path],
  [":authority", "skiff"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
];
const SETTINGS = h2Frame(4, 0, 0, new Uint8Array());
const FRAME_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

const rawFrame = fc
  .record({
    type: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(...FRAME_TYPES) },
      fc.integer({ min: 0, max: 255 }),
    ),
    flags: fc.oneof(fc.constantFrom(0, 1, 4, 5, 8, 0x20, 0x25, 0x2d), fc.integer({ min: 0, max: 255 })),
    streamId: fc.oneof(fc.constantFrom(0, 1, 3, 2 ** 31 - 1, 2 ** 32 - 1), fc.nat()),
    payload: fc.oneof(
      bytes(64),
      fc.constant(hpack(GRPC_HEADERS(SOTW_PATH))),
      fc.constant(Buffer.from([0, 0, 0, 0, 5, 1, 2, 3, 4, 5])),
      fc.constantFrom(Buffer.alloc(6), Buffer.alloc(8), Buffer.alloc(4, 0xff)),
    ),
    lengthDelta: fc.constantFrom(0, 0, 0, 0, 1, -1, 100, 16_385, 2 ** 24),
  })
  .map((f) => h2Frame(f.type, f.flags, f.streamId, f.payload, f.lengthDelta));

const rawCase = fc.record({
  prefix: fc.constantFrom("none", "preface", "settings", "request"),
  body: fc.oneof(
    bytes(2048),
    fc.array(rawFrame, { maxLength: 8 }).map((frames): Uint8Array => Buffer.concat(frames)),
  ),
  end: fc.constantFrom("end", "destroy", "linger"),
});
type RawCase = typeof rawCase extends fc.Arbitrary<infer T> ? T : never;

function rawPrefix(prefix: RawCase["prefix"], path: string): Buffer {
  if (prefix === "none") return Buffer.alloc(0);
  if (prefix === "preface") return PREFACE;
  if (prefix === "settings") return Buffer.concat([PREFACE, SETTINGS]);
  return Buffer.concat([PREFACE, SETTINGS, h2Frame(1, 4, 1, hpack(GRPC_HEADERS(path)))]);
}

// --- HTTP/2 requests (layer b) ----------------------------------------------------

/** A gRPC length-prefixed message, possibly lying about its flag or length. */
function grpcFrame(flag: number, payload: Uint8Array, declared?: number): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(declared ?? payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

let bombs: Buffer[] | undefined;
/** Small gzip streams of large messages: one just over the receive limit, one of 64 MiB. */
const gzipBombs = () =>
  (bombs ??= [gzipSync(Buffer.alloc(MAX_REQUEST_BYTES + 1)), gzipSync(Buffer.alloc(64 * MiB))]);

const compressedPayload = fc.oneof(
  messageBody.map((b) => gzipSync(b)),
  messageBody.map((b) => gzipSync(b).subarray(0, Math.max(1, Math.floor(gzipSync(b).length / 2)))),
  bytes(64),
  fc.constantFrom(0, 1).map((i) => gzipBombs()[i]!),
);

const grpcMessage = fc.oneof(
  { weight: 5, arbitrary: messageBody.map((b) => grpcFrame(0, b)) },
  { weight: 3, arbitrary: compressedPayload.map((b) => grpcFrame(1, b)) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 255 })),
        messageBody,
        fc.oneof(
          fc.constantFrom(0, 1, 2 ** 32 - 1, MAX_REQUEST_BYTES, MAX_REQUEST_BYTES + 1, 2 ** 31),
          fc.integer({ min: 0, max: 5000 }),
        ),
      )
      .map(([flag, b, declared]) => grpcFrame(flag, b, declared)),
  },
  { weight: 1, arbitrary: bytes(4).map((b) => Buffer.from(b)) }, // less than a prefix
);

const headerToken = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-_."),
  minLength: 1,
  maxLength: 16,
});
/** Printable ASCII: what Node's HTTP/2 client lets a header value hold. */
const headerValue = fc.string({ unit: "grapheme-ascii", maxLength: 60 });
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const http2Case = fc.record({
  path: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(SOTW_PATH, DELTA_PATH) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(SDS_PATH, "/", "/grpc.health.v1.Health/Check", `${SOTW_PATH}/x`),
    },
    { weight: 1, arbitrary: headerToken.map((t) => `/${t}`) },
  ),
  method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT"),
  contentType: fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom("application/grpc", "application/grpc+proto") },
    {
      weight: 1,
      arbitrary: fc.constantFrom("application/json", "application/grpc+json", "text/plain", "", undefined),
    },
    { weight: 1, arbitrary: headerValue },
  ),
  te: optional(fc.constant("trailers")),
  encoding: optional(fc.oneof(fc.constantFrom("identity", "gzip", "deflate", "snappy"), headerValue)),
  acceptEncoding: optional(fc.oneof(fc.constantFrom("identity,gzip,deflate", "gzip"), headerValue)),
  authorization: optional(
    fc.oneof(fc.constantFrom("Bearer good", "Bearer slow", "Bearer down"), headerValue),
  ),
  timeout: fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom("1m", "100u", "99999999H", "0n", "x") },
    { weight: 1, arbitrary: headerValue },
  ),
  extra: fc.dictionary(headerToken, headerValue, { maxKeys: 3 }),
  messages: fc.array(grpcMessage, { maxLength: 5 }),
  split: fc.boolean(),
  end: fc.constantFrom("end", "end", "end", "reset", "linger"),
});
type Http2Case = typeof http2Case extends fc.Arbitrary<infer T> ? T : never;

// --- gRPC streams (layer c) ---------------------------------------------------------

type Step =
  | { step: "request"; sotw: Uint8Array; delta: Uint8Array }
  | { step: "raw"; bytes: Uint8Array }
  | { step: "answer"; nack?: string }
  | { step: "pause"; ms: number };
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .tuple(encodedSotw, encodedDelta)
      .map(([sotw, delta]) => ({ step: "request" as const, sotw, delta })),
  },
  { weight: 3, arbitrary: messageBody.map((b) => ({ step: "raw" as const, bytes: b })) },
  { weight: 4, arbitrary: optional(text).map((nack) => ({ step: "answer" as const, nack })) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 20 }).map((ms) => ({ step: "pause" as const, ms })) },
);
const grpcCase = fc.record({
  protocol: fc.constantFrom("sotw", "delta"),
  /** The node of the stream's first request, sent before the steps; none leaves the steps to identify it. */
  first: fc.oneof(
    { weight: 3, arbitrary: fc.tuple(servedNode, fc.constantFrom(...KNOWN_TYPES)) },
    { weight: 1, arbitrary: fc.tuple(node, fc.constantFrom(...KNOWN_TYPES)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  /** Mostly none or a good one, so most streams get served. */
  token: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(undefined, "good") },
    { weight: 3, arbitrary: fc.constantFrom("slow", "down", "bad") },
    { weight: 1, arbitrary: headerToken },
  ),
  steps: fc.array(step, { minLength: 1, maxLength: 8 }),
  end: fc.constantFrom("halfClose", "cancel", "linger"),
});
type GrpcCase = typeof grpcCase extends fc.Arbitrary<infer T> ? T : never;

// --- The search -----------------------------------------------------------------

/** A case's value, short enough to log: bytes and long strings by their size. */
function summarized(value: unknown): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  // A Buffer is turned into { type, data } before a replacer sees it.
  const buffer = value as { type?: unknown; data?: unknown };
  if (buffer?.type === "Buffer" && Array.isArray(buffer.data)) return `<${buffer.data.length} bytes>`;
  if (typeof value === "string" && value.length > 40) return `<${value.length} characters>`;
  return value;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const withTimeout = <T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> =>
  Promise.race([promise, sleep(ms).then(() => "timeout" as const)]);

describe("invariant: no bytes on the ADS port crash the xDS server or leak (fast-check, seeded)", function () {
  this.timeout(LONG_RUNS > 0 ? 0 : 60_000);
  let probe: ChildProcess;
  let address: string;
  let port: number;
  let stderr = "";
  /** Uncaught exceptions and unhandled rejections, in the server's process and this one. */
  const fatal: string[] = [];
  const onFatal = (err: unknown) =>
    fatal.push(`test process: ${err instanceof Error ? err.stack : String(err)}`);
  let baseline = 0;
  let steady: SotwClient;
  /** How the stream opened before the search ended, if it did, and after how many cases. */
  let steadyEnded: string | undefined;
  /** The longest stall of the server's event loop, and the case it was in. */
  let worstStall = { ms: 0, what: "" };
  const counts = { raw: 0, http2: 0, grpc: 0, statuses: new Map<string, number>() };

  /** The server's longest event-loop stall since the last call. */
  const stall = async (): Promise<number> => {
    probe.send("lag");
    for (;;) {
      const [reply] = (await once(probe, "message")) as [{ lagMs?: number }];
      if (reply.lagMs !== undefined) return reply.lagMs;
    }
  };

  const memory = async (): Promise<{ bytes: number; proxies: number }> => {
    probe.send("memory");
    for (;;) {
      const [reply] = (await once(probe, "message")) as [{ bytes?: number; proxies: number }];
      if (reply.bytes !== undefined) return reply as { bytes: number; proxies: number };
    }
  };

  async function startProbe(): Promise<void> {
    fatal.length = 0;
    stderr = "";
    probe = fork(PROBE, [], {
      execArgv: ["--expose-gc", "--import", "tsx"],
      env: { ...process.env, ADS_PROBE_MESH: "1", ADS_PROBE_AUTH: "1" },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    probe.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    probe.on("message", (m: { fatal?: string }) => {
      if (m.fatal) fatal.push(`server process: ${m.fatal}`);
    });
    const [data] = (await once(probe.stdout!, "data")) as [Buffer];
    port = Number(data.toString().trim());
    address = `127.0.0.1:${port}`;
  }

  /**
   * A case that failed may have ended the server: the next one (fast-check
   * shrinking it) gets a fresh server, so the counterexample is minimal.
   * The search has failed by then, and the end's memory check with it.
   */
  async function freshServerIfFailed(): Promise<void> {
    if (fatal.length === 0 && probe.exitCode === null && probe.signalCode === null) return;
    if (probe.exitCode === null) probe.kill();
    await startProbe();
  }

  /** The server process is alive, nothing was left unhandled, and a new proxy is served. */
  async function assertServing(what: string, input?: unknown): Promise<void> {
    assert.deepEqual(fatal, [], `${what}: ${stderr}`);
    const ms = await stall();
    if (ms > worstStall.ms)
      worstStall = {
        ms,
        what: JSON.stringify(input, (_, v: unknown) => summarized(v))?.slice(0, 300) ?? what,
      };
    assert.equal(probe.exitCode, null, `${what}: the server exited: ${stderr}`);
    assert.equal(probe.signalCode, null, `${what}: the server was killed: ${stderr}`);
    const client = new DeltaClient(address, { id: SIDECAR_IDS[0]! }, undefined, OWN_CONNECTION);
    try {
      client.request({ typeUrl: CLUSTER_TYPE });
      const response = await client.next(10_000);
      assert.equal(response.typeUrl, CLUSTER_TYPE, what);
      assert.ok(response.resources.length > 0, `${what}: no clusters`);
    } finally {
      client.close();
    }
  }

  const count = (what: string) => counts.statuses.set(what, (counts.statuses.get(what) ?? 0) + 1);

  async function rawCaseRun(c: RawCase, path: string): Promise<void> {
    const socket = tcpConnect(port, "127.0.0.1");
    socket.on("error", () => {});
    socket.resume();
    const closed = once(socket, "close");
    await once(socket, "connect");
    socket.write(Buffer.concat([rawPrefix(c.prefix, path), c.body]));
    if (c.end === "end") socket.end();
    else if (c.end === "destroy") socket.destroy();
    // Left open (a frame that declares more bytes than come, say), the
    // connection is the server's to end: its keepalive does, after 40 s.
    if ((await withTimeout(closed, c.end === "linger" ? 50 : 500)) === "timeout") {
      count("raw: left open");
      socket.destroy();
    } else count("raw: closed");
  }

  async function http2CaseRun(c: Http2Case): Promise<void> {
    const session: ClientHttp2Session = http2Connect(`http://${address}`);
    session.on("error", () => {});
    try {
      const headers: Record<string, string> = { ...c.extra, ":method": c.method, ":path": c.path };
      for (const [name, value] of [
        ["content-type", c.contentType],
        ["te", c.te],
        ["grpc-encoding", c.encoding],
        ["grpc-accept-encoding", c.acceptEncoding],
        ["authorization", c.authorization],
        ["grpc-timeout", c.timeout],
      ] as const)
        if (value !== undefined) headers[name] = value;
      let request;
      try {
        request = session.request(headers, { endStream: false });
      } catch (err) {
        count(`http2: headers Node refuses: ${(err as Error).message}`);
        return; // a header Node's client will not send (connection-specific, say)
      }
      request.on("error", () => {});
      let responseHeaders: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      request.on("response", (h) => (responseHeaders = h));
      request.on("trailers", (t) => (trailers = t));
      request.resume();
      const closed = once(request, "close");
      const body = Buffer.concat(c.messages);
      if (c.split && body.length > 1) {
        request.write(body.subarray(0, body.length >> 1));
        await sleep(1);
        request.write(body.subarray(body.length >> 1));
      } else if (body.length > 0) request.write(body);
      if (c.end === "end") request.end();
      else if (c.end === "reset") request.close(h2.NGHTTP2_CANCEL);
      const outcome = await withTimeout(closed, c.end === "linger" ? 100 : 5000);
      const grpcStatus = (trailers["grpc-status"] ?? responseHeaders["grpc-status"]) as string | undefined;
      const grpcMessage = (trailers["grpc-message"] ?? responseHeaders["grpc-message"]) as string | undefined;
      const failed =
        grpcStatus === "13" || grpcStatus === "2"
          ? ` ${decodeURIComponent(grpcMessage ?? "").slice(0, 28)}`
          : "";
      count(
        `http2: ${outcome === "timeout" ? "open" : `${responseHeaders[":status"] ?? "-"} ${grpcStatus ?? "-"}${failed}`}`,
      );
      if (c.end === "end") {
        // Half-closed: the server must answer, whatever it was sent.
        assert.notEqual(outcome, "timeout", "a half-closed request got no answer");
        if (c.path === SDS_PATH && c.method === "POST" && c.contentType?.startsWith("application/grpc"))
          assert.equal(grpcStatus, String(GrpcStatus.UNIMPLEMENTED));
      }
    } finally {
      session.destroy();
    }
  }

  async function grpcCaseRun(c: GrpcCase): Promise<void> {
    const client =
      c.protocol === "sotw"
        ? new SotwClient(address, null, c.token, OWN_CONNECTION)
        : new DeltaClient(address, null, c.token, OWN_CONNECTION);
    let ended: StatusObject | undefined;
    void client.status.then((s) => (ended = s));
    let answered = 0;
    try {
      if (c.first) {
        const [n, type] = c.first;
        const message =
          c.protocol === "sotw"
            ? encode("DiscoveryRequest", { node: n, typeUrl: type })
            : encode("DeltaDiscoveryRequest", { node: n, typeUrl: type });
        client.sendRaw(message);
      }
      for (const s of c.steps) {
        if (ended) break;
        if (s.step === "request") client.sendRaw(c.protocol === "sotw" ? s.sotw : s.delta);
        else if (s.step === "raw") client.sendRaw(s.bytes);
        else if (s.step === "pause") await sleep(s.ms);
        else {
          const response = await client.next(100).catch(() => undefined);
          if (!response) continue;
          answered++;
          if (client instanceof SotwClient) {
            const r = response as Parameters<SotwClient["ack"]>[0];
            if (s.nack === undefined) client.ack(r);
            else client.nack(r, s.nack);
          } else {
            const r = response as Parameters<DeltaClient["ack"]>[0];
            if (s.nack === undefined) client.ack(r);
            else client.nack(r, s.nack);
          }
        }
      }
      count(answered > 0 ? "grpc: answered a response" : "grpc: answered none");
      if (c.end === "halfClose") client.halfClose();
      else if (c.end === "cancel") client.close();
      const status = await withTimeout(client.status, c.end === "linger" ? 20 : 5000);
      if (status === "timeout") {
        assert.notEqual(c.end, "halfClose", "a half-closed stream got no status");
        count("grpc: open");
        return;
      }
      count(`grpc: ${GrpcStatus[status.code]}`);
      assert.ok(
        status.code !== GrpcStatus.INTERNAL && status.code !== GrpcStatus.UNKNOWN,
        `the server failed: ${GrpcStatus[status.code]} ${status.details}`,
      );
    } finally {
      client.close();
    }
  }

  before(async () => {
    console.log(`      ADS port: ${RUNS.raw}, ${RUNS.http2} and ${RUNS.grpc} runs, seed ${SEED}`);
    process.on("unhandledRejection", onFatal);
    process.on("uncaughtException", onFatal);
    await startProbe();
    // A proxy that stays connected through the whole search, and must still be served at the end.
    steady = new SotwClient(
      address,
      { id: SIDECAR_IDS[1]!, metadata: { GENERATOR: "grpc" } },
      "good",
      OWN_CONNECTION,
    );
    void steady.status.then(
      (s) =>
        (steadyEnded = `with ${GrpcStatus[s.code]} "${s.details}" after ${counts.raw + counts.http2 + counts.grpc} cases`),
    );
    steady.request({ typeUrl: CLUSTER_TYPE });
    steady.ack(await steady.next(10_000));
    // Warm-up: each layer once, so code every case shares is loaded before the baseline.
    await rawCaseRun(
      { prefix: "request", body: grpcFrame(0, new Uint8Array([0x0a, 0xff])), end: "end" },
      SOTW_PATH,
    );
    for (const encoding of [undefined, "gzip"])
      await http2CaseRun({
        path: DELTA_PATH,
        method: "POST",
        contentType: "application/grpc",
        te: "trailers",
        encoding,
        acceptEncoding: undefined,
        authorization: "Bearer slow",
        timeout: undefined,
        extra: {},
        messages: [grpcFrame(encoding ? 1 : 0, encoding ? gzipSync(Buffer.from([1])) : new Uint8Array([1]))],
        split: false,
        end: "end",
      });
    await grpcCaseRun({
      protocol: "delta",
      first: [{ id: SIDECAR_IDS[0]! }, CLUSTER_TYPE],
      token: "good",
      steps: [{ step: "answer" }, { step: "answer", nack: "no" }],
      end: "halfClose",
    });
    gzipBombs();
    await assertServing("warm-up");
    baseline = (await memory()).bytes;
  });

  after(() => {
    process.off("unhandledRejection", onFatal);
    process.off("uncaughtException", onFatal);
    steady?.close();
    probe?.disconnect();
    if (counts.statuses.size > 0)
      console.log(`      outcomes: ${JSON.stringify(Object.fromEntries([...counts.statuses].sort()))}`);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && stderr) console.error(stderr.slice(-4000));
  });

  const runs = (numRuns: number) => ({ seed: SEED, numRuns });

  it("(a) bytes on a TCP connection: anything, or HTTP/2 frames after the preface", async () => {
    await fc.assert(
      fc.asyncProperty(rawCase, fc.constantFrom(SOTW_PATH, DELTA_PATH), async (c, path) => {
        await freshServerIfFailed();
        counts.raw++;
        await rawCaseRun(c, path);
        await assertServing("after the bytes", c);
      }),
      runs(RUNS.raw),
    );
  });

  it("(b) HTTP/2 requests with any headers and truncated, oversized, lying or compressed gRPC frames", async () => {
    await fc.assert(
      fc.asyncProperty(http2Case, async (c) => {
        await freshServerIfFailed();
        counts.http2++;
        await http2CaseRun(c);
        await assertServing("after the request", c);
      }),
      runs(RUNS.http2),
    );
  });

  it("(c) gRPC streams of arbitrary, built and mutated requests, ACKs and NACKs, with any credentials", async () => {
    await fc.assert(
      fc.asyncProperty(grpcCase, async (c) => {
        await freshServerIfFailed();
        counts.grpc++;
        await grpcCaseRun(c);
        await assertServing("after the stream", c);
      }),
      runs(RUNS.grpc),
    );
  });

  it(`still serves the proxy connected throughout, and holds under ${RETAINED_BOUND / MiB} MiB more once every connection is closed`, async () => {
    console.log(`      the server's longest stall: ${Math.round(worstStall.ms)} ms, in ${worstStall.what}`);
    assert.equal(steadyEnded, undefined, `the stream open throughout ended ${steadyEnded}`);
    steady.request({ typeUrl: ENDPOINT_TYPE });
    const response = await steady.next(10_000);
    assert.equal(response.typeUrl, ENDPOINT_TYPE);
    steady.close();
    await steady.status;
    await sleep(200);
    const after = await memory();
    const grown = after.bytes - baseline;
    console.log(
      `      ${counts.raw + counts.http2 + counts.grpc} cases; retained ${(grown / MiB).toFixed(2)} MiB over the warm-up's ${(baseline / MiB).toFixed(1)} MiB`,
    );
    assert.equal(after.proxies, 0, "streams outlived their connections");
    assert.ok(grown < RETAINED_BOUND, `the server kept ${(grown / MiB).toFixed(2)} MiB`);
    assert.deepEqual(fatal, []);
  });
});
