import { fromBinary, type JsonObject } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { messageType } from "../protos/registry.js";
import { DEFAULT_STREAM_LIMITS, tooLong, tooMany, type StreamLimits } from "./limits.js";

/**
 * Decoding of ADS requests. Requests are decoded here rather than in the
 * gRPC deserializer because grpc-js turns a deserializer exception into
 * INTERNAL, while a malformed request is the client's fault
 * (INVALID_ARGUMENT).
 *
 * The fields the server reads are walked by hand: every SotW ACK of a
 * sidecar repeats its thousand EDS names, and a reconnecting delta proxy
 * lists a version for every resource it has, and the generic reflective
 * decoder spent most of its time building objects for them. The Node and
 * google.rpc.Status sub-messages, rare and small, still go through it, as
 * does the check that the bytes are a well-formed message at all.
 *
 * A request past a stream limit that one request can break (more names
 * than a stream may hold, a Node too large) throws StreamLimitExceeded
 * while it is decoded, before anything of that size is built.
 */

/** The limits that apply to a single request. */
export type RequestLimits = Pick<
  StreamLimits,
  "maxNames" | "maxNodeIdBytes" | "maxNodeClusterBytes" | "maxNodeMetadataBytes"
>;

/** The fields of a google.rpc.Status the server reads. */
export interface StatusFields {
  readonly code: number;
  readonly message: string;
}

export interface NodeFields {
  readonly id: string;
  readonly cluster: string;
  /** google.protobuf.Struct fields come out of @bufbuild/protobuf as plain JSON. */
  readonly metadata?: JsonObject;
}

export interface SotwRequest {
  readonly versionInfo: string;
  readonly node?: NodeFields;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail?: StatusFields;
  /**
   * Set when resource_names are exactly this set's names in its order, as
   * the stream's subscription for the type (see decodeSotwRequest):
   * `resourceNames` is then that set's list, and the subscription unchanged.
   */
  readonly sameNamesAs?: ReadonlySet<string>;
}

export interface DeltaRequest {
  readonly node?: NodeFields;
  readonly typeUrl: string;
  readonly resourceNamesSubscribe: readonly string[];
  readonly resourceNamesUnsubscribe: readonly string[];
  /** initial_resource_versions: a fresh Map the stream may keep. */
  readonly initialResourceVersions: Map<string, string>;
  readonly responseNonce: string;
  readonly errorDetail?: StatusFields;
}

const status = (bytes: Uint8Array) =>
  fromBinary(messageType("google.rpc.Status"), bytes) as unknown as StatusFields;

/** A stream's subscription to a type, as decodeSotwRequest compares an ACK's names with it. */
export interface Subscription {
  readonly wildcard: boolean;
  readonly names: ReadonlySet<string>;
}

/**
 * Throws on bytes that are not a DiscoveryRequest.
 *
 * An ACK repeats the subscription it answers, and a sidecar's EDS ACK names
 * its thousand clusters: decoding them, a string each, took about a quarter
 * of the server's CPU while a thousand sidecars ACKed an endpoint change
 * (benchmark B2). So where the names begin, they are compared, as bytes,
 * with the encoding of each by-name subscription of the stream
 * (`subscriptions`, by type URL). When one matches, the names end there and
 * the request's type is that subscription's (the subscription is
 * unchanged), the request carries the subscription's set and names as
 * `sameNamesAs`, and nothing of them was read one by one. Otherwise they
 * are decoded.
 */
export function decodeSotwRequest(
  bytes: Uint8Array,
  limits: RequestLimits = DEFAULT_STREAM_LIMITS,
  subscriptions?: ReadonlyMap<string, Subscription>,
): SotwRequest {
  const request = {
    versionInfo: "",
    node: undefined as NodeFields | undefined,
    resourceNames: [] as readonly string[],
    typeUrl: "",
    responseNonce: "",
    errorDetail: undefined as StatusFields | undefined,
    sameNamesAs: undefined as ReadonlySet<string> | undefined,
  };
  const reader = new BinaryReader(bytes);
  /** How many names, where they end, and the subscription whose encoding they began with. */
  const names = { count: 0, end: 0, contiguous: true, matched: undefined as Matched | undefined };
  for (;;) {
    const at = reader.pos;
    const field = nextField(reader, SOTW_FIELDS);
    if (field === END) break;
    switch (field) {
      case 1:
        request.versionInfo = reader.string();
        break;
      case 2:
        request.node = node(reader.bytes(), limits);
        break;
      case 3:
        if (names.count > 0 && names.end !== at) names.contiguous = false;
        if (names.count === 0 && subscriptions) names.matched = subscriptionAt(bytes, at, subscriptions);
        if (names.matched && names.count === 0) {
          if (names.matched.set.size > limits.maxNames) throw tooManyNames(limits);
          names.count = names.matched.set.size;
          names.end = reader.pos = at + names.matched.encoding.length;
        } else {
          if (names.count === limits.maxNames) throw tooManyNames(limits);
          names.count++;
          names.end = skipLengthDelimited(reader);
        }
        break;
      case 4:
        request.typeUrl = reader.string();
        break;
      case 5:
        request.responseNonce = reader.string();
        break;
      case 6:
        request.errorDetail = status(reader.bytes());
        break;
      default:
        reader.skip(WireType.LengthDelimited, field);
    }
  }
  const { matched } = names;
  if (
    matched &&
    names.contiguous &&
    names.count === matched.set.size &&
    subscriptions?.get(request.typeUrl) === matched.subscription
  ) {
    request.resourceNames = namesOf(matched.set);
    request.sameNamesAs = matched.set;
  } else if (names.count > 0) {
    request.resourceNames = decodeNames(bytes);
  }
  return request;
}

interface Matched {
  readonly subscription: Subscription;
  readonly set: ReadonlySet<string>;
  readonly encoding: Buffer;
}

/** The by-name subscription whose names' encoding the bytes at `at` begin with, if any. */
function subscriptionAt(
  bytes: Uint8Array,
  at: number,
  subscriptions: ReadonlyMap<string, Subscription>,
): Matched | undefined {
  for (const subscription of subscriptions.values()) {
    const set = subscription.names;
    if (subscription.wildcard || set.size === 0) continue;
    const encoding = encodedNames(set);
    if (at + encoding.length <= bytes.length && encoding.compare(bytes, at, at + encoding.length) === 0)
      return { subscription, set, encoding };
  }
  return undefined;
}

/** Moves past a length-delimited value without reading it; returns where it ends. */
function skipLengthDelimited(reader: BinaryReader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) throw new RangeError("premature EOF");
  reader.pos = end;
  return end;
}

/** Every resource_names entry of a DiscoveryRequest the caller has already walked once. */
function decodeNames(bytes: Uint8Array): string[] {
  const names: string[] = [];
  const reader = new BinaryReader(bytes);
  for (let field = nextField(reader, SOTW_FIELDS); field !== END; field = nextField(reader, SOTW_FIELDS)) {
    if (field === 3) names.push(reader.string());
    else reader.skip(WireType.LengthDelimited, field);
  }
  return names;
}

/** A name set's resource_names field as a request encodes it, in the set's order; made once per set. */
const encodings = new WeakMap<ReadonlySet<string>, Buffer>();
function encodedNames(set: ReadonlySet<string>): Buffer {
  let encoded = encodings.get(set);
  if (!encoded) {
    const writer = new BinaryWriter();
    for (const name of set) writer.tag(3, WireType.LengthDelimited).string(name);
    const bytes = writer.finish();
    encodings.set(set, (encoded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
  }
  return encoded;
}

/** A name set's names in its order, as one list shared by every request that repeats them. */
const lists = new WeakMap<ReadonlySet<string>, readonly string[]>();
function namesOf(set: ReadonlySet<string>): readonly string[] {
  let list = lists.get(set);
  if (!list) lists.set(set, (list = [...set]));
  return list;
}

/** Throws on bytes that are not a DeltaDiscoveryRequest. */
export function decodeDeltaRequest(
  bytes: Uint8Array,
  limits: RequestLimits = DEFAULT_STREAM_LIMITS,
): DeltaRequest {
  const request = {
    node: undefined as NodeFields | undefined,
    typeUrl: "",
    resourceNamesSubscribe: [] as string[],
    resourceNamesUnsubscribe: [] as string[],
    initialResourceVersions: new Map<string, string>(),
    responseNonce: "",
    errorDetail: undefined as StatusFields | undefined,
  };
  const reader = new BinaryReader(bytes);
  let names = 0;
  for (let field = nextField(reader, DELTA_FIELDS); field !== END; field = nextField(reader, DELTA_FIELDS)) {
    if (field >= 3 && field <= 5 && ++names > limits.maxNames) throw tooManyNames(limits);
    switch (field) {
      case 1:
        request.node = node(reader.bytes(), limits);
        break;
      case 2:
        request.typeUrl = reader.string();
        break;
      case 3:
        request.resourceNamesSubscribe.push(reader.string());
        break;
      case 4:
        request.resourceNamesUnsubscribe.push(reader.string());
        break;
      case 5: {
        const [name, version] = mapEntry(reader);
        request.initialResourceVersions.set(name, version);
        break;
      }
      case 6:
        request.responseNonce = reader.string();
        break;
      case 7:
        request.errorDetail = status(reader.bytes());
        break;
      default:
        reader.skip(WireType.LengthDelimited, field);
    }
  }
  return request;
}

const tooManyNames = (limits: RequestLimits) => tooMany("resource names in one request", limits.maxNames);

/** Node fields the server keeps, with the limit on each (see StreamLimits). */
const NODE_ID = 1;
const NODE_CLUSTER = 2;
const NODE_METADATA = 3;

/**
 * Checks the sizes of the Node fields the server keeps for the life of the
 * stream, from their length prefixes, then decodes the Node.
 */
function node(bytes: Uint8Array, limits: RequestLimits): NodeFields {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited && field <= NODE_METADATA) {
      const size = reader.uint32();
      if (field === NODE_ID && size > limits.maxNodeIdBytes)
        throw tooLong("node.id", size, limits.maxNodeIdBytes, "bytes");
      if (field === NODE_CLUSTER && size > limits.maxNodeClusterBytes)
        throw tooLong("node.cluster", size, limits.maxNodeClusterBytes, "bytes");
      if (field === NODE_METADATA && size > limits.maxNodeMetadataBytes)
        throw tooLong("node.metadata", size, limits.maxNodeMetadataBytes, "encoded bytes");
      reader.pos += size;
    } else {
      reader.skip(wireType, field);
    }
  }
  return fromBinary(messageType("envoy.config.core.v3.Node"), bytes) as unknown as NodeFields;
}

/** Every field of DiscoveryRequest and DeltaDiscoveryRequest is length-delimited (strings, messages, map entries). */
const SOTW_FIELDS = 7;
const DELTA_FIELDS = 9;

/** No field is numbered 0: it marks the end of the message. */
const END = 0;

/**
 * The number of the next length-delimited field, or END. Unknown fields of
 * other wire types (newer protocol versions) are skipped; a known field with
 * another wire type is a malformed request.
 */
function nextField(reader: BinaryReader, knownFields: number): number {
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited) return field;
    if (field <= knownFields) throw new Error(`field ${field} has wire type ${wireType}`);
    reader.skip(wireType, field);
  }
  return END;
}

/** One map<string, string> entry: key 1, value 2, either may be missing (the empty string). */
function mapEntry(reader: BinaryReader): [string, string] {
  const end = reader.uint32() + reader.pos;
  let key = "";
  let value = "";
  while (reader.pos < end) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) key = reader.string();
    else if (field === 2 && wireType === WireType.LengthDelimited) value = reader.string();
    else reader.skip(wireType, field);
  }
  if (reader.pos !== end) throw new Error("malformed map entry");
  return [key, value];
}
