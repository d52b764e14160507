import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { EncodedResource, ProxyNode } from "../cache/snapshot.js";
import { EnvelopeWriter, fieldSize, messageFieldSize, utf8Of } from "./envelope-writer.js";
import type { NodeFields } from "./request-wire.js";

/**
 * Framing of ADS responses: each resource's pre-encoded bytes are wrapped in
 * an Any as they are, never decoded or re-encoded; only the small envelope
 * around them is. Requests are decoded in request-wire.ts.
 */
export function proxyNode(node: NodeFields): ProxyNode {
  return { id: node.id, cluster: node.cluster, metadata: node.metadata ?? {} };
}

/** A resource as a google.protobuf.Any (type_url 1, value 2): its size and how to write it. */
function anyOf(resource: EncodedResource) {
  const type = utf8Of(resource.typeUrl, true);
  return {
    type,
    value: resource.bytes,
    size: fieldSize(1, type.length) + fieldSize(2, resource.bytes.length),
  };
}

/**
 * A DiscoveryResponse without its nonce, to be shared by every stream that
 * sends it (see withNonce): version_info (1), resources (2), type_url (4).
 */
export function encodeSotwResponseBody(response: {
  versionInfo: string;
  typeUrl: string;
  resources: readonly EncodedResource[];
}): Uint8Array {
  const version = utf8Of(response.versionInfo);
  const type = utf8Of(response.typeUrl, true);
  const anys = response.resources.map(anyOf);
  let size = fieldSize(1, version.length) + fieldSize(4, type.length);
  for (const a of anys) size += messageFieldSize(2, a.size);
  const writer = new EnvelopeWriter(size).field(1, version);
  for (const a of anys) writer.message(2, a.size).field(1, a.type).field(2, a.value);
  return writer.field(4, type).finish();
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

/**
 * A DeltaDiscoveryResponse: system_version_info (1), resources (2: each a
 * Resource of version 1, the Any 2 and name 3), type_url (4), nonce (5),
 * removed_resources (6), in field-number order as protobuf-es writes them.
 */
export function encodeDeltaResponse(response: {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: readonly EncodedResource[];
  removedResources: readonly string[];
}): Uint8Array {
  const version = utf8Of(response.systemVersionInfo);
  const type = utf8Of(response.typeUrl, true);
  const nonce = utf8Of(response.nonce);
  const entries = response.resources.map((r) => {
    const name = utf8Of(r.name);
    const resourceVersion = utf8Of(r.version);
    const any = anyOf(r);
    const size =
      fieldSize(3, name.length) + fieldSize(1, resourceVersion.length) + messageFieldSize(2, any.size);
    return { name, resourceVersion, any, size };
  });
  const removed = response.removedResources.map((name) => utf8Of(name));
  let size = fieldSize(1, version.length) + fieldSize(4, type.length) + fieldSize(5, nonce.length);
  for (const e of entries) size += messageFieldSize(2, e.size);
  for (const r of removed) size += messageFieldSize(6, r.length);
  const writer = new EnvelopeWriter(size).field(1, version);
  for (const e of entries)
    writer
      .message(2, e.size)
      .field(1, e.resourceVersion)
      .message(2, e.any.size)
      .field(1, e.any.type)
      .field(2, e.any.value)
      .field(3, e.name);
  writer.field(4, type).field(5, nonce);
  for (const r of removed) writer.element(6, r);
  return writer.finish();
}
