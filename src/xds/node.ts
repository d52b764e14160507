import type { ProxyNode } from "./cache/snapshot.js";
import { CERTIFICATE_PROVIDER, CERTIFICATE_PROVIDER_METADATA } from "../mesh/proxyless.js";

/** Who a proxy is, as far as its configuration is concerned. */
export interface ProxyIdentity {
  /** An Envoy sidecar, or a proxyless gRPC application. */
  readonly kind: "sidecar" | "proxyless";
  /** namespace/name of its Pod, when the node id names one. */
  readonly workload?: string;
  /** A proxyless client that can use certificates (see CERTIFICATE_PROVIDER_METADATA). */
  readonly certificates: boolean;
}

/**
 * Reads a node the way Istio does: metadata GENERATOR=grpc marks a proxyless
 * gRPC application, anything else is an Envoy sidecar. Either names its Pod
 * with the node id `sidecar~<pod IP>~<pod>.<namespace>~<namespace>.svc.<domain>`;
 * proxyless clients that only call others may use any id.
 */
export function proxyIdentity(node: ProxyNode): ProxyIdentity {
  // Nodes are immutable, and each status pass asks again of every connected one.
  let identity = identities.get(node);
  if (!identity) identities.set(node, (identity = identityOf(node)));
  return identity;
}

const identities = new WeakMap<ProxyNode, ProxyIdentity>();

function identityOf(node: ProxyNode): ProxyIdentity {
  const proxyless = node.metadata["GENERATOR"] === "grpc";
  const workload = workloadOf(node.id);
  return {
    kind: proxyless ? "proxyless" : "sidecar",
    ...(workload ? { workload } : {}),
    certificates: proxyless && node.metadata[CERTIFICATE_PROVIDER_METADATA] === CERTIFICATE_PROVIDER,
  };
}

function workloadOf(nodeId: string): string | undefined {
  const pod = nodePod(nodeId);
  return nodeId.startsWith("sidecar~") && pod ? `${pod.namespace}/${pod.name}` : undefined;
}

/**
 * The Pod a node id names in its third field (`<type>~<ip>~<pod>.<namespace>~…`),
 * whatever its type: a sidecar's, or a `skiff-agent`'s that speaks for the
 * same Pod. Undefined when it names none.
 */
export function nodePod(nodeId: string): { namespace: string; name: string } | undefined {
  const podDotNamespace = nodeId.split("~")[2];
  if (!podDotNamespace) return undefined;
  const dot = podDotNamespace.lastIndexOf(".");
  if (dot <= 0 || dot === podDotNamespace.length - 1) return undefined;
  return { namespace: podDotNamespace.slice(dot + 1), name: podDotNamespace.slice(0, dot) };
}
