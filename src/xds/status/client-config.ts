import type { JsonObject } from "@bufbuild/protobuf";
import type { EncodedResource } from "../cache/snapshot.js";
import { nodePod, proxyIdentity } from "../node.js";
import type { ProxyState, ProxyTypeStatus } from "../server/proxy-state.js";

/**
 * What CSDS (envoy.service.status.v3) reports about one connected proxy,
 * as plain data: csds-service.ts encodes it as a ClientConfig. Pure.
 */

/** envoy.service.status.v3.ConfigStatus: the server's view of one resource. */
export enum ConfigStatus {
  SYNCED = 1,
  NOT_SENT = 2,
  STALE = 3,
  ERROR = 4,
}

/** envoy.admin.v3.ClientResourceStatus: the client's, as the server infers it from ACKs and NACKs. */
export enum ClientResourceStatus {
  REQUESTED = 1,
  DOES_NOT_EXIST = 2,
  ACKED = 3,
  NACKED = 4,
}

export interface ResourceStatus {
  readonly typeUrl: string;
  readonly name: string;
  /** The version_info (delta: system_version_info) of the response the status is about. */
  readonly versionInfo: string;
  /** The resource as that response carried it; absent when it does not exist or contents are excluded. */
  readonly resource?: EncodedResource;
  /** When the proxy last ACKed the type. */
  readonly lastUpdated?: Date;
  readonly configStatus: ConfigStatus;
  readonly clientStatus: ClientResourceStatus;
  /** With a NACK standing: Envoy's error detail, the rejected version and when it was rejected. */
  readonly error?: {
    readonly details: string;
    readonly versionInfo: string;
    readonly at: Date;
    readonly failedResource?: EncodedResource;
  };
}

export interface ClientStatus {
  /** The node as the proxy sent it, with what the server knows added to its metadata (see SERVER_METADATA). */
  readonly node: { readonly id: string; readonly cluster: string; readonly metadata: JsonObject };
  readonly resources: readonly ResourceStatus[];
}

/**
 * Node metadata keys the server sets in a CSDS answer (overriding any the
 * proxy sent): its kind (sidecar or proxyless, read as Istio does), the
 * Pod its node id names, the identity its token proved, and its stream.
 */
export const SERVER_METADATA = {
  kind: "SKIFF_PROXY_KIND",
  pod: "SKIFF_POD",
  identity: "SKIFF_IDENTITY",
  protocol: "SKIFF_XDS_PROTOCOL",
  connectedAt: "SKIFF_CONNECTED_AT",
  awaitingAnswer: "SKIFF_AWAITING_ANSWER",
} as const;

/**
 * The status of every resource of every type a proxy subscribes to. One
 * entry per resource it asked for by name (a wildcard type lists what it was
 * last sent, and the names it asked for besides). Per type, from the last
 * responses the server sent and the proxy's answers:
 *
 * - NOT_SENT: nothing of the type was sent yet;
 * - ERROR/NACKED: the proxy's latest answer was a NACK, which the whole
 *   response shares (with Envoy's message); the entry shows the version the
 *   proxy still runs, the rejected one is in `error`;
 * - STALE/REQUESTED: a response is awaiting the proxy's answer (the server
 *   sent a newer version than it ACKed);
 * - SYNCED/ACKED: the last response sent was ACKed.
 *
 * A name the resources do not hold is DOES_NOT_EXIST. With
 * `excludeResourceContents`, no resource bodies are returned.
 */
export function clientStatusOf(proxy: ProxyState, excludeResourceContents: boolean): ClientStatus {
  return {
    node: nodeOf(proxy),
    resources: proxy.types.flatMap((type) => resourcesOf(type, excludeResourceContents)),
  };
}

function nodeOf(proxy: ProxyState): ClientStatus["node"] {
  const { kind } = proxyIdentity(proxy.node);
  const pod = nodePod(proxy.node.id);
  const identity = proxy.node.identity;
  return {
    id: proxy.node.id,
    cluster: proxy.node.cluster,
    metadata: {
      ...proxy.node.metadata,
      [SERVER_METADATA.kind]: kind,
      ...(pod ? { [SERVER_METADATA.pod]: `${pod.namespace}/${pod.name}` } : {}),
      ...(identity ? { [SERVER_METADATA.identity]: `${identity.namespace}/${identity.serviceAccount}` } : {}),
      [SERVER_METADATA.protocol]: proxy.protocol,
      [SERVER_METADATA.connectedAt]: proxy.connectedAt.toISOString(),
      ...awaitingAnswer(proxy),
    },
  };
}

/**
 * The types whose last response the proxy has not answered (STALE): when it
 * was sent and the version the proxy last ACKed, which a GenericXdsConfig
 * cannot say (its last_updated is the last ACK, its version the sent one).
 * `skiff proxy-status` tells a proxy that is slow from one that is stuck by it.
 */
function awaitingAnswer(proxy: ProxyState): JsonObject {
  const waiting: JsonObject = {};
  for (const type of proxy.types) {
    if (!type.awaitingAnswer || !type.lastSentAt) continue;
    waiting[type.typeUrl] = {
      sentAt: type.lastSentAt.toISOString(),
      sentVersion: type.lastSentVersion ?? "",
      ...(type.lastAckedVersion !== undefined ? { ackedVersion: type.lastAckedVersion } : {}),
    };
  }
  return Object.keys(waiting).length > 0 ? { [SERVER_METADATA.awaitingAnswer]: waiting } : {};
}

function resourcesOf(type: ProxyTypeStatus, excludeContents: boolean): ResourceStatus[] {
  const nack = standingNack(type);
  const state = typeState(type, nack !== undefined);
  // What the proxy runs, or, while a response is unanswered or before any ACK, what it was last sent.
  const shown = state === ConfigStatus.SYNCED || state === ConfigStatus.ERROR ? "acked" : "sent";
  const resources = (shown === "acked" ? type.lastAckedResources : type.lastSentResources) ?? new Map();
  const versionInfo = (shown === "acked" ? type.lastAckedVersion : type.lastSentVersion) ?? "";
  const names = new Set(type.names ?? []);
  if (type.wildcard) for (const name of resources.keys()) names.add(name);
  return [...names].sort().map((name) => {
    const resource = resources.get(name);
    const exists = resource !== undefined;
    const failed = nack && !excludeContents ? type.lastSentResources?.get(name) : undefined;
    return {
      typeUrl: type.typeUrl,
      name,
      versionInfo,
      ...(exists && !excludeContents ? { resource } : {}),
      ...(type.lastAckedAt ? { lastUpdated: type.lastAckedAt } : {}),
      configStatus: exists || state === ConfigStatus.ERROR ? state : ConfigStatus.NOT_SENT,
      clientStatus: clientStatusFor(state, exists),
      ...(nack
        ? {
            error: {
              details: nack.message,
              versionInfo: nack.version,
              at: nack.at,
              ...(failed ? { failedResource: failed } : {}),
            },
          }
        : {}),
    };
  });
}

/** The type's last NACK, when no ACK of the same or a newer generation followed it. */
function standingNack(type: ProxyTypeStatus): ProxyTypeStatus["lastNack"] {
  const nack = type.lastNack;
  return nack && nack.generation >= (type.lastAckedGeneration ?? -1) && !type.awaitingAnswer
    ? nack
    : undefined;
}

function typeState(type: ProxyTypeStatus, nacked: boolean): ConfigStatus {
  if (type.lastSentGeneration === undefined) return ConfigStatus.NOT_SENT;
  if (type.awaitingAnswer) return ConfigStatus.STALE;
  if (nacked) return ConfigStatus.ERROR;
  return ConfigStatus.SYNCED;
}

function clientStatusFor(state: ConfigStatus, exists: boolean): ClientResourceStatus {
  if (state === ConfigStatus.ERROR) return ClientResourceStatus.NACKED;
  if (state === ConfigStatus.SYNCED)
    return exists ? ClientResourceStatus.ACKED : ClientResourceStatus.DOES_NOT_EXIST;
  return ClientResourceStatus.REQUESTED;
}
