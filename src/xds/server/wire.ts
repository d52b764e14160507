import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { EncodedResource, ProxyNode } from "../cache/snapshot.js";
import type { NodeFields } from "./request-wire.js";
import { messageType } from "../protos/registry.js";

/**
 * Framing of ADS responses: each resource's pre-encoded bytes are wrapped in
 * an Any as they are, never decoded or re-encoded; only the small envelope
 * around them is. Requests are decoded in request-wire.ts.
 */
const DISCOVERY = "envoy.service.discovery.v3";

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
