import type { IPod } from "kubernetes-models/v1";
import type { DataPlane } from "../ir/model.js";
import { PROXYLESS_ANNOTATION, STATUS_ANNOTATION } from "../mesh/annotations.js";
import { PROXY_CONTAINER } from "../inject/sidecar.js";

/** What serves a Pod's inbound side: its annotation marks a proxyless gRPC application. */
export function dataPlaneOf(pod: IPod | undefined): DataPlane {
  return pod?.metadata?.annotations?.[PROXYLESS_ANNOTATION] === "true" ? "proxyless" : "sidecar";
}

/**
 * Whether something in the Pod can terminate the mesh's TLS: a sidecar the
 * injector added (its status annotation, or the proxy container itself, as
 * a native sidecar among the init containers too), or a proxyless gRPC
 * server, whose agent holds the certificates. The namespace's injection
 * label is not enough: a Pod that opted out, or that existed before the
 * label, runs no sidecar, and a client sending it TLS gets no answer.
 */
export function terminatesMeshTls(pod: IPod): boolean {
  if (dataPlaneOf(pod) === "proxyless") return true;
  if (pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined) return true;
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return containers.some((c) => c.name === PROXY_CONTAINER);
}
