import type { ProxyState } from "../server/proxy-state.js";

/**
 * The node type `skiff agent` gives its own streams (src/agent/node-ids.ts):
 * it fetches its Pod's certificates and trust bundle, and is no data plane
 * of its own beside the Pod's Envoy or gRPC application.
 */
const AGENT_NODE_TYPE = "skiff-agent~";

/**
 * How many data planes (Envoy sidecars and proxyless gRPC applications) are
 * connected to this server, for the Mesh's status.connectedProxies (kubectl's
 * PROXIES column): each node id once, however many streams it has open (a
 * proxy reconnecting may briefly hold two), and the agents' own streams left
 * out, so a sidecar Pod counts once. Pure.
 */
export function connectedProxyCount(proxies: readonly ProxyState[]): number {
  return new Set(proxies.map((p) => p.node.id).filter((id) => !id.startsWith(AGENT_NODE_TYPE))).size;
}
