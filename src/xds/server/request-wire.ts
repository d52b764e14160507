import { fromBinary, type JsonObject } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
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

/** Throws on bytes that are not a DiscoveryRequest. */
export function decodeSotwRequest(
  bytes: Uint8Array,
  limits: RequestLimits = DEFAULT_STREAM_LIMITS,
): SotwRequest {
  const request = {
    versionInfo: "",
    node: undefined as NodeFields | undefined,
    resourceNames: [] as string[],
    typeUrl: "",
    responseNonce: "",
    errorDetail: undefined as StatusFields | undefined,
  };
  const reader = new BinaryReader(bytes);
  for (let field = nextField(reader, SOTW_FIELDS); field !== END; field = nextField(reader, SOTW_FIELDS)) {
    switch (field) {
      case 1:
        request.versionInfo = reader.string();
        break;
      case 2:
        request.node = node(reader.bytes(), limits);
        break;
      case 3:
        if (request.resourceNames.length === limits.maxNames) throw tooManyNames(limits);
        request.resourceNames.push(reader.string());
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
  return request;
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
