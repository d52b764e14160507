/**
 * The xDS resource types the server knows by name, and the order in which a
 * change is pushed. Any other type URL is still served (from whatever the
 * snapshot holds for it, usually nothing), so an Envoy asking for a type we
 * do not produce gets an empty answer instead of a hung subscription.
 */
const PREFIX = "type.googleapis.com/";

export const CLUSTER = `${PREFIX}envoy.config.cluster.v3.Cluster`;
export const ENDPOINT = `${PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
export const SECRET = `${PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;
export const LISTENER = `${PREFIX}envoy.config.listener.v3.Listener`;
export const ROUTE = `${PREFIX}envoy.config.route.v3.RouteConfiguration`;

/**
 * Make-before-break: a cluster (and its endpoints and secrets) must exist
 * before a listener or route that points at it, so a push writes CDS, EDS,
 * SDS, LDS, RDS in this order, as the xDS protocol's eventual-consistency
 * section recommends. Unknown types go last, in a stable order.
 */
const PUSH_ORDER = [CLUSTER, ENDPOINT, SECRET, LISTENER, ROUTE];

export function inPushOrder(typeUrls: Iterable<string>): string[] {
  const rank = (t: string) => {
    const i = PUSH_ORDER.indexOf(t);
    return i === -1 ? PUSH_ORDER.length : i;
  };
  return [...typeUrls].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

const SHORT = new Map([
  [CLUSTER, "cds"],
  [ENDPOINT, "eds"],
  [SECRET, "sds"],
  [LISTENER, "lds"],
  [ROUTE, "rds"],
]);

/** The metric label for a type; unknown types share "other" so a client cannot grow label cardinality. */
export function shortType(typeUrl: string): string {
  return SHORT.get(typeUrl) ?? "other";
}

export function isKnownType(typeUrl: string): boolean {
  return SHORT.has(typeUrl);
}
