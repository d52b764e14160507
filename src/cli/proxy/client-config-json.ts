import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SECRET_TYPE,
} from "../../xds/translate/resource.js";

/**
 * envoy.service.status.v3.ClientConfig as the CLI reads it: the proto3 JSON
 * mapping with proto field names (csds-client.ts). Only the fields the
 * commands use are typed; Skiff's server-side node metadata is described in
 * docs/csds.md (src/xds/status/client-config.ts SERVER_METADATA).
 */
export type Json = Record<string, unknown>;

export interface AnyJson extends Json {
  readonly "@type": string;
}

export interface GenericXdsConfig {
  readonly type_url: string;
  readonly name: string;
  readonly version_info?: string;
  readonly xds_config?: AnyJson;
  readonly last_updated?: string;
  readonly config_status?: "SYNCED" | "NOT_SENT" | "STALE" | "ERROR" | "UNKNOWN";
  readonly client_status?: "REQUESTED" | "DOES_NOT_EXIST" | "ACKED" | "NACKED" | "UNKNOWN";
  readonly error_state?: {
    readonly details?: string;
    readonly version_info?: string;
    readonly last_update_attempt?: string;
    readonly failed_configuration?: AnyJson;
  };
}

export interface ClientConfig {
  readonly node?: { readonly id?: string; readonly cluster?: string; readonly metadata?: Json };
  readonly generic_xds_configs?: readonly GenericXdsConfig[];
}

/** The xDS types by the names people use for them, in the order tables show them. */
export const XDS_TYPES = {
  CDS: CLUSTER_TYPE,
  LDS: LISTENER_TYPE,
  EDS: ENDPOINT_TYPE,
  RDS: ROUTE_TYPE,
  SDS: SECRET_TYPE,
} as const;
export type XdsTypeName = keyof typeof XDS_TYPES;
