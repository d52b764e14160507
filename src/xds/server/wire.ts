import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { EncodedResource, ProxyNode } from "../cache/snapshot.js";
import { messageType } from "../protos/registry.js";

/**
 * Decoding of ADS requests and framing of ADS responses. Requests are
 * decoded here rather than in the gRPC deserializer because grpc-js turns a
 * deserializer exception into INTERNAL, while a malformed request is the
 * client's fault (INVALID_ARGUMENT). Responses wrap each resource's
 * pre-encoded bytes in an Any as they are: the resource is never decoded or
 * re-encoded here, only the small envelope around it is.
 */
const DISCOVERY = "envoy.service.discovery.v3";

/** The fields of a google.rpc.Status the server reads. */
interface StatusFields {
  readonly code: number;
  readonly message: string;
}

interface NodeFields {
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
  readonly initialResourceVersions: Readonly<Record<string, string>>;
  readonly responseNonce: string;
  readonly errorDetail?: StatusFields;
}

/** Throws on bytes that are not a DiscoveryRequest. */
export function decodeSotwRequest(bytes: Uint8Array): SotwRequest {
  return fromBinary(messageType(`${DISCOVERY}.DiscoveryRequest`), bytes) as unknown as SotwRequest;
}

/** Throws on bytes that are not a DeltaDiscoveryRequest. */
export function decodeDeltaRequest(bytes: Uint8Array): DeltaRequest {
  return fromBinary(messageType(`${DISCOVERY}.DeltaDiscoveryRequest`), bytes) as unknown as DeltaRequest;
}

export function proxyNode(node: NodeFields): ProxyNode {
  return { id: node.id, cluster: node.cluster, metadata: node.metadata ?? {} };
}

function any(resource: EncodedResource) {
  return { typeUrl: resource.typeUrl, value: resource.bytes };
}

/** A DiscoveryResponse without its nonce, to be shared by every stream that sends it (see withNonce). */
export function encodeSotwResponseBody(response: {
  versionInfo: string;
  typeUrl: string;
  resources: readonly EncodedResource[];
}): Uint8Array {
  const desc = messageType(`${DISCOVERY}.DiscoveryResponse`);
  const message = create(desc, {
    versionInfo: response.versionInfo,
    typeUrl: response.typeUrl,
    resources: response.resources.map(any),
  } as never);
  return toBinary(desc, message);
}

/** DiscoveryResponse.nonce. */
const NONCE_FIELD = 5;

/**
 * A shared response body with one stream's nonce: protobuf decoders merge
 * fields in any order, so appending the nonce field to the encoded body is
 * the encoding of the whole response.
 */
export function withNonce(body: Uint8Array, nonce: string): Uint8Array {
  const field = new BinaryWriter().tag(NONCE_FIELD, WireType.LengthDelimited).string(nonce).finish();
  const response = new Uint8Array(body.length + field.length);
  response.set(body);
  response.set(field, body.length);
  return response;
}

export function encodeDeltaResponse(response: {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  removedResources: readonly string[];
}): Uint8Array {
  const desc = messageType(`${DISCOVERY}.DeltaDiscoveryResponse`);
  const message = create(desc, {
    systemVersionInfo: response.systemVersionInfo,
    typeUrl: response.typeUrl,
    nonce: response.nonce,
    resources: response.resources.map((r) => ({ name: r.name, version: r.version, resource: any(r) })),
    removedResources: [...response.removedResources],
  } as never);
  return toBinary(desc, message);
}
