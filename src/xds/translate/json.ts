import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

/** Small builders for the proto3 JSON forms that recur in Envoy resources. */

/** A google.protobuf.Duration from milliseconds, such as "2s" or "0.5s". */
export function duration(ms: number): string {
  const seconds = (ms / 1000).toFixed(9).replace(/\.?0+$/, "");
  return `${seconds}s`;
}

/** An envoy.type.v3.FractionalPercent; a per-million denominator keeps fractions such as 0.5%. */
export function fraction(percent: number): JsonObject {
  return { numerator: Math.round(percent * 10_000), denominator: "MILLION" };
}

/** A typed_config: the message's fields with its @type. */
export function typed(fullName: string, body: JsonObject = {}): JsonObject {
  return { "@type": `type.googleapis.com/${fullName}`, ...body };
}

/** Resources of this type come over the same ADS stream. */
export const ADS_SOURCE: JsonObject = { ads: {}, resource_api_version: "V3" };

export function socketAddress(address: string, port: number): JsonObject {
  return { socket_address: { address, port_value: port } };
}

/** Drops undefined fields, so optional settings leave no trace in the output. */
export function compact(fields: Record<string, JsonValue | undefined>): JsonObject {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as JsonObject;
}
