import type { IPod } from "kubernetes-models/v1";
import { PROXYLESS_ANNOTATION } from "../inject/sidecar.js";
import type { DataPlane } from "../ir/model.js";

/** What serves a Pod's inbound side: its annotation marks a proxyless gRPC application. */
export function dataPlaneOf(pod: IPod | undefined): DataPlane {
  return pod?.metadata?.annotations?.[PROXYLESS_ANNOTATION] === "true" ? "proxyless" : "sidecar";
}
