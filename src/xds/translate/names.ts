/**
 * Names of generated Envoy resources. They follow Istio's conventions, so
 * that people who read Envoy config dumps or stats recognise them.
 */
import type { ServiceModel } from "../../ir/model.js";
import { PROXYLESS_SERVER_LISTENER_TEMPLATE } from "../../mesh/proxyless.js";

/** outbound|<port>|<subset>|<hostname>; the subset is empty for the whole Service. */
export function outboundClusterName(port: number, subset: string | undefined, hostname: string): string {
  return `outbound|${port}|${subset ?? ""}|${hostname}`;
}

/** inbound|<port>||: the local application's port behind the sidecar. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** <hostname>:<port>: the route configuration, and the proxyless gRPC listener, for one Service port. */
export function hostPortName(hostname: string, port: number): string {
  return `${hostname}:${port}`;
}

/** <ClusterIP>_<port>: a sidecar's outbound listener for one Service port. */
export function outboundListenerName(address: string, port: number): string {
  return `${address}_${port}`;
}

/** The listener name for one listening address (`10.1.0.7:9080`, `[::]:9080`). */
export function proxylessServerListenerName(listeningAddress: string): string {
  return PROXYLESS_SERVER_LISTENER_TEMPLATE.replace("%s", listeningAddress);
}

export const VIRTUAL_OUTBOUND = "virtualOutbound";
export const VIRTUAL_INBOUND = "virtualInbound";
export const PASSTHROUGH_CLUSTER = "PassthroughCluster";
export const INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster";

/**
 * outbound_.<port>_.<subset>_.<hostname>: the SNI a client sends under mTLS,
 * Istio's convention (the subset is empty for the whole Service).
 */
export function outboundSni(port: number, subset: string | undefined, hostname: string): string {
  return `outbound_.${port}_.${subset ?? ""}_.${hostname}`;
}

/** spiffe://<trustDomain>/ns/<namespace>/sa/<serviceAccount>: the URI SAN of a workload certificate. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/**
 * The resources through which a client uses a Service: per port, its route
 * configuration (and a proxyless client's listener, which shares the name),
 * its cluster, and a sidecar's outbound listener. A proxy that subscribes to
 * one of them, or to all of its type, carries the Service's policy.
 */
export function serviceResourceNames(service: ServiceModel): Set<string> {
  return new Set(
    service.ports.flatMap((p) => [
      hostPortName(service.hostname, p.port),
      outboundClusterName(p.port, undefined, service.hostname),
      ...(service.clusterIP ? [outboundListenerName(service.clusterIP, p.port)] : []),
    ]),
  );
}
