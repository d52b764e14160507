import { readFileSync } from "node:fs";
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type DescMessage,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/**
 * The Envoy and xDS protobuf types, from the FileDescriptorSet that
 * `make generate` exports out of go-control-plane (envoy.binpb). Encoding
 * goes through @bufbuild/protobuf because it implements the proto3 JSON
 * mapping exactly as Go's protojson does (Any with @type, Duration strings,
 * wrappers), so the JSON that the Go validator checks and the bytes a proxy
 * receives come from one and the same document.
 */
let registry: FileRegistry | undefined;

export function envoyRegistry(): FileRegistry {
  if (registry) return registry;
  const bytes = readFileSync(new URL("./envoy.binpb", import.meta.url));
  registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  return registry;
}

export function messageType(fullName: string): DescMessage {
  const desc = envoyRegistry().getMessage(fullName);
  if (!desc)
    throw new Error(`the Envoy descriptor set has no message ${fullName}; add it to envoy-types.txt`);
  return desc;
}

/** The type URL of a message, as it appears in an Any and in xDS requests. */
export function typeUrl(fullName: string): string {
  return `type.googleapis.com/${fullName}`;
}

/** Encodes a message given in the proto3 JSON mapping; unknown fields are errors. */
export function encodeJson(fullName: string, json: JsonValue): Uint8Array {
  const desc = messageType(fullName);
  return toBinary(desc, fromJson(desc, json, { registry: envoyRegistry() }));
}

export function decodeMessage(fullName: string, bytes: Uint8Array): Message {
  return fromBinary(messageType(fullName), bytes);
}

/** Renders a decoded message in the proto3 JSON mapping (for debugging and tests). */
export function messageToJson(fullName: string, message: Message): JsonValue {
  return toJson(messageType(fullName), message, { registry: envoyRegistry() });
}
