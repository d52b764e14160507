import type { AnyJson, ClientConfig, GenericXdsConfig, Json } from "./client-config-json.js";
import { XDS_TYPES } from "./client-config-json.js";

export const CONFIG_KINDS = ["clusters", "listeners", "routes", "endpoints", "secrets"] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

const KIND_TYPES: Record<ConfigKind, string> = {
  clusters: XDS_TYPES.CDS,
  listeners: XDS_TYPES.LDS,
  routes: XDS_TYPES.RDS,
  endpoints: XDS_TYPES.EDS,
  secrets: XDS_TYPES.SDS,
};

/** One resource a proxy runs (or, for a STALE type, was sent), as CSDS reported it. */
export interface ProxyResource {
  readonly name: string;
  readonly version: string;
  readonly lastUpdated?: string;
  /** The resource without its @type, in the proto3 JSON mapping with proto field names. */
  readonly body: Json;
}

/** The resources of one kind in a proxy's CSDS entry, by name; secrets with their private keys redacted. Pure. */
export function resourcesOf(config: ClientConfig, kind: ConfigKind): ProxyResource[] {
  return (config.generic_xds_configs ?? [])
    .filter(
      (entry): entry is GenericXdsConfig & { xds_config: AnyJson } =>
        entry.type_url === KIND_TYPES[kind] && entry.xds_config !== undefined,
    )
    .map((entry) => {
      const { "@type": _type, ...body } = entry.xds_config;
      return {
        name: entry.name,
        version: entry.version_info ?? "",
        ...(entry.last_updated ? { lastUpdated: entry.last_updated } : {}),
        body: kind === "secrets" ? redacted(body) : body,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export const REDACTED = "[redacted]";

/**
 * A Secret with every private key replaced: the xDS server's SDS sends
 * trust bundles only, but a tool that prints secrets must not rely on it.
 */
function redacted(secret: Json): Json {
  const certificate = secret["tls_certificate"] as Json | undefined;
  const out: Json = { ...secret };
  if (certificate) {
    const { private_key, pkey_private_key, private_key_provider, ...rest } = certificate;
    out["tls_certificate"] = {
      ...rest,
      ...(private_key || pkey_private_key || private_key_provider
        ? { private_key: { inline_string: REDACTED } }
        : {}),
    };
  }
  if (out["generic_secret"]) out["generic_secret"] = { secret: { inline_string: REDACTED } };
  if (out["session_ticket_keys"]) out["session_ticket_keys"] = { keys: [{ inline_string: REDACTED }] };
  return out;
}

/**
 * The resources in the shape of Envoy's admin /config_dump entries of the
 * same kind (ClustersConfigDump.dynamic_active_clusters and so on), so the
 * two can be compared. Pure.
 */
export function configDumpOf(kind: ConfigKind, resources: readonly ProxyResource[]): Json {
  const common = (r: ProxyResource) => ({
    version_info: r.version,
    ...(r.lastUpdated ? { last_updated: r.lastUpdated } : {}),
  });
  const admin = (type: string) => `type.googleapis.com/envoy.admin.v3.${type}`;
  switch (kind) {
    case "clusters":
      return {
        "@type": admin("ClustersConfigDump"),
        dynamic_active_clusters: resources.map((r) => ({
          ...common(r),
          cluster: { "@type": XDS_TYPES.CDS, ...r.body },
        })),
      };
    case "listeners":
      return {
        "@type": admin("ListenersConfigDump"),
        dynamic_listeners: resources.map((r) => ({
          name: r.name,
          active_state: { ...common(r), listener: { "@type": XDS_TYPES.LDS, ...r.body } },
        })),
      };
    case "routes":
      return {
        "@type": admin("RoutesConfigDump"),
        dynamic_route_configs: resources.map((r) => ({
          ...common(r),
          route_config: { "@type": XDS_TYPES.RDS, ...r.body },
        })),
      };
    case "endpoints":
      return {
        "@type": admin("EndpointsConfigDump"),
        dynamic_endpoint_configs: resources.map((r) => ({
          ...common(r),
          endpoint_config: { "@type": XDS_TYPES.EDS, ...r.body },
        })),
      };
    case "secrets":
      return {
        "@type": admin("SecretsConfigDump"),
        dynamic_active_secrets: resources.map((r) => ({
          name: r.name,
          ...common(r),
          secret: { "@type": XDS_TYPES.SDS, ...r.body },
        })),
      };
  }
}
