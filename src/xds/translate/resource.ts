import type { JsonObject } from "@bufbuild/protobuf";

/** A translated Envoy resource, in the proto3 JSON mapping (what the Go validator reads and the cache encodes). */
export interface EnvoyResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly json: JsonObject;
}

const prefix = "type.googleapis.com/";

export const LISTENER_TYPE = `${prefix}envoy.config.listener.v3.Listener`;
export const ROUTE_TYPE = `${prefix}envoy.config.route.v3.RouteConfiguration`;
export const CLUSTER_TYPE = `${prefix}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT_TYPE = `${prefix}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const SECRET_TYPE = `${prefix}envoy.extensions.transport_sockets.tls.v3.Secret`;

/** The message full name behind a type URL. */
export const messageName = (typeUrl: string) => typeUrl.slice(prefix.length);
