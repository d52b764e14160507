import { SERVER_METADATA } from "../../xds/status/client-config.js";
import type { ClientConfig, GenericXdsConfig } from "./client-config-json.js";
import { XDS_TYPES, type XdsTypeName } from "./client-config-json.js";
import type { ReportedProxy } from "./proxies.js";
import { age, textTable } from "./text-table.js";

/** A type's state for a proxy, as istioctl proxy-status names them. */
export type TypeState = "SYNCED" | "STALE" | "NACKED" | "NOT SENT";

export interface ProxyRow {
  readonly name: string;
  readonly kind: string;
  readonly states: Readonly<Record<XdsTypeName, TypeState>>;
  readonly version: string;
  readonly lastAck?: Date;
  readonly replica: string;
  /** Types whose NACK stands, with the proxy's error detail. */
  readonly nacks: readonly {
    readonly type: XdsTypeName;
    readonly details: string;
    readonly version: string;
  }[];
  /** STALE types and since when the server waits for an answer. */
  readonly waiting: readonly { readonly type: XdsTypeName; readonly since?: Date }[];
}

/** The row of one proxy. Pure. */
export function proxyRow(proxy: ReportedProxy): ProxyRow {
  const { config } = proxy;
  const entries = config.generic_xds_configs ?? [];
  const metadata = config.node?.metadata ?? {};
  const states = {} as Record<XdsTypeName, TypeState>;
  const nacks: ProxyRow["nacks"][number][] = [];
  const waiting: ProxyRow["waiting"][number][] = [];
  const awaiting = (metadata[SERVER_METADATA.awaitingAnswer] ?? {}) as Record<string, { sentAt?: string }>;
  for (const [type, typeUrl] of Object.entries(XDS_TYPES) as [XdsTypeName, string][]) {
    const ofType = entries.filter((entry) => entry.type_url === typeUrl);
    states[type] = typeState(ofType);
    const nacked = ofType.find((entry) => entry.config_status === "ERROR");
    if (nacked)
      nacks.push({
        type,
        details: nacked.error_state?.details ?? "",
        version: nacked.error_state?.version_info ?? "",
      });
    if (states[type] === "STALE") {
      const sentAt = awaiting[typeUrl]?.sentAt;
      waiting.push({ type, ...(sentAt ? { since: new Date(sentAt) } : {}) });
    }
  }
  const acks = entries.flatMap((entry) => (entry.last_updated ? [Date.parse(entry.last_updated)] : []));
  return {
    name: proxyName(config),
    kind:
      typeof metadata[SERVER_METADATA.kind] === "string" ? (metadata[SERVER_METADATA.kind] as string) : "",
    states,
    version: configVersion(entries),
    ...(acks.length > 0 ? { lastAck: new Date(Math.max(...acks)) } : {}),
    replica: proxy.replica,
    nacks,
    waiting,
  };
}

function typeState(entries: readonly GenericXdsConfig[]): TypeState {
  if (entries.some((entry) => entry.config_status === "ERROR")) return "NACKED";
  if (entries.some((entry) => entry.config_status === "STALE")) return "STALE";
  if (entries.some((entry) => entry.config_status === "SYNCED")) return "SYNCED";
  return "NOT SENT";
}

/** pod.namespace for a proxy whose node id names a Pod, else its node id. */
export function proxyName(config: ClientConfig): string {
  const pod = config.node?.metadata?.[SERVER_METADATA.pod];
  if (typeof pod === "string" && pod.includes("/")) {
    const [namespace, name] = pod.split("/");
    return `${name}.${namespace}`;
  }
  return config.node?.id ?? "";
}

/**
 * The version of the configuration the proxy runs: Skiff versions each type
 * by its content, so this is the clusters' (CDS) version_info, else the
 * listeners', as CSDS reports it (for a STALE type, the version sent).
 */
function configVersion(entries: readonly GenericXdsConfig[]): string {
  for (const typeUrl of [XDS_TYPES.CDS, XDS_TYPES.LDS]) {
    const version = entries.find((entry) => entry.type_url === typeUrl && entry.version_info)?.version_info;
    if (version) return version;
  }
  return "-";
}

/** Why the exit status is 1: a standing NACK, or a type STALE for longer than the threshold. */
export function unhealthy(row: ProxyRow, staleAfterMs: number, now: Date): string[] {
  return [
    ...row.nacks.map((nack) => `${row.name} NACKED ${nack.type} version ${nack.version}: ${nack.details}`),
    ...row.waiting
      .filter((wait) => wait.since !== undefined && now.getTime() - wait.since.getTime() > staleAfterMs)
      .map((wait) => `${row.name} STALE ${wait.type}: no answer for ${age(wait.since!, now)}`),
  ];
}

/** The table of every proxy. Pure. */
export function statusTable(rows: readonly ProxyRow[], now: Date): string {
  return textTable(
    ["NAME", "KIND", "CDS", "LDS", "EDS", "RDS", "SDS", "VERSION", "LAST ACK", "XDS REPLICA"],
    rows.map((row) => [
      row.name,
      row.kind,
      row.states.CDS,
      row.states.LDS,
      row.states.EDS,
      row.states.RDS,
      row.states.SDS,
      row.version,
      row.lastAck ? age(row.lastAck, now) : "-",
      row.replica,
    ]),
  );
}
