import type { EgressHostModel, ServiceModel } from "./model.js";

/**
 * Whether an egress scope takes in a Service, as Istio matches a Sidecar's
 * egress hosts: the namespace is the Service's (or "*"; "~" is none), and
 * the DNS name is "*", the Service's hostname, or "*.<suffix>" with the
 * hostname ending in ".<suffix>" (any number of labels before it).
 * Undefined hosts: the whole mesh.
 */
export function inEgressScope(hosts: readonly EgressHostModel[] | undefined, service: ServiceModel): boolean {
  if (hosts === undefined) return true;
  return hosts.some(
    (host) =>
      (host.namespace === "*" || host.namespace === service.namespace) &&
      dnsNameMatches(host.dnsName, service.hostname),
  );
}

function dnsNameMatches(dnsName: string, hostname: string): boolean {
  if (dnsName === "*") return true;
  if (dnsName.startsWith("*.")) return hostname.endsWith(dnsName.slice(1));
  return dnsName === hostname;
}
