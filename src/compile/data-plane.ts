import type { IPod } from "kubernetes-models/v1";
import type { DataPlane } from "../ir/model.js";
import { PROXYLESS_ANNOTATION } from "../mesh/annotations.js";

/** What serves a Pod's inbound side: its annotation marks a proxyless gRPC application. */
export function dataPlaneOf(pod: IPod | undefined): DataPlane {
  return pod?.metadata?.annotations?.[PROXYLESS_ANNOTATION] === "true" ? "proxyless" : "sidecar";
}
