import type { ProxyNode } from "./cache/snapshot.js";

/** Who a proxy is, as far as its configuration is concerned. */
export type ProxyIdentity =
  | { readonly kind: "proxyless" }
  | {
      readonly kind: "sidecar";
      /** namespace/name of its Pod, when the node id names one. */ readonly workload?: string;
    };

/**
 * Reads a node the way Istio does: metadata GENERATOR=grpc marks a proxyless
 * gRPC client; anything else is an Envoy sidecar whose node id is
 * `sidecar~<pod IP>~<pod>.<namespace>~<namespace>.svc.<domain>`.
 */
export function proxyIdentity(node: ProxyNode): ProxyIdentity {
  if (node.metadata["GENERATOR"] === "grpc") return { kind: "proxyless" };
  const [type, , podDotNamespace] = node.id.split("~");
  if (type !== "sidecar" || !podDotNamespace) return { kind: "sidecar" };
  const dot = podDotNamespace.lastIndexOf(".");
  if (dot <= 0) return { kind: "sidecar" };
  return { kind: "sidecar", workload: `${podDotNamespace.slice(dot + 1)}/${podDotNamespace.slice(0, dot)}` };
}
