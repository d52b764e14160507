import { fromBinary, type JsonObject } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { messageType } from "../protos/registry.js";

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
 */

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

const node = (bytes: Uint8Array) =>
  fromBinary(messageType("envoy.config.core.v3.Node"), bytes) as unknown as NodeFields;
const status = (bytes: Uint8Array) =>
  fromBinary(messageType("google.rpc.Status"), bytes) as unknown as StatusFields;

/** Throws on bytes that are not a DiscoveryRequest. */
export function decodeSotwRequest(bytes: Uint8Array): SotwRequest {
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
        request.node = node(reader.bytes());
        break;
      case 3:
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
export function decodeDeltaRequest(bytes: Uint8Array): DeltaRequest {
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
  for (let field = nextField(reader, DELTA_FIELDS); field !== END; field = nextField(reader, DELTA_FIELDS)) {
    switch (field) {
      case 1:
        request.node = node(reader.bytes());
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
