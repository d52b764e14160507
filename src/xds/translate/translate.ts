import type { MeshModel } from "../../ir/model.js";
import { outboundClusters, passthroughClusters, proxylessMtlsClusters } from "./clusters.js";
import { clusterLoadAssignments } from "./endpoints.js";
import { egressScopes, type EgressScopes } from "./egress-scopes.js";
import { inboundResources } from "./inbound.js";
import { outboundListeners, proxylessListeners, virtualOutboundListener } from "./listeners.js";
import { proxylessInboundResources } from "./proxyless-inbound.js";
import type { EnvoyResource } from "./resource.js";
import { proxylessRouteConfigurations, routeConfigurations } from "./routes.js";

/**
 * Everything the mesh model asks of the data plane, grouped by who receives
 * it. A proxy's view is `shared` plus its kind's group (plus, for a proxyless
 * client with certificates, `proxylessMtls`), plus its own workload's inbound
 * resources.
 */
export interface MeshResources {
  /** Outbound clusters, their endpoints and the route configurations: every proxy may use them. */
  readonly shared: readonly EnvoyResource[];
  /**
   * api_listeners for proxyless gRPC clients, and the route configurations
   * that they get in place of the shared ones of the same names (a rule's
   * timeout is written differently for them).
   */
  readonly proxyless: readonly EnvoyResource[];
  /**
   * For proxyless gRPC clients with certificates: the outbound clusters that
   * use mTLS, in place of the shared ones of the same names.
   */
  readonly proxylessMtls: readonly EnvoyResource[];
  /** Outbound listeners and the passthrough clusters, for Envoy sidecars. */
  readonly sidecar: readonly EnvoyResource[];
  /**
   * Each workload's (namespace/name) inbound side: a sidecar's virtualInbound
   * and local clusters, or a proxyless gRPC workload's server listeners.
   */
  readonly inbound: ReadonlyMap<string, readonly EnvoyResource[]>;
  /** Which of `shared` and `sidecar` each scoped sidecar workload gets; absent: every sidecar gets all. */
  readonly egress?: EgressScopes;
}

/** The mesh model as Envoy resources. Pure: equal models give identical output. */
export function translate(model: MeshModel): MeshResources {
  return {
    shared: model.services.flatMap((s) => [
      ...outboundClusters(s, model.trustDomain),
      ...clusterLoadAssignments(s, model.telemetry),
      ...routeConfigurations(s),
    ]),
    proxyless: model.services.flatMap((s) => [...proxylessListeners(s), ...proxylessRouteConfigurations(s)]),
    proxylessMtls: model.services.flatMap((s) => proxylessMtlsClusters(s, model.trustDomain)),
    sidecar: [
      virtualOutboundListener(),
      ...model.services.flatMap((s) => outboundListeners(s, model.telemetry)),
      ...passthroughClusters(),
    ],
    inbound: new Map(
      model.workloads.map((w) => [
        w.key,
        w.dataPlane === "proxyless" ? proxylessInboundResources(model, w) : inboundResources(model, w),
      ]),
    ),
    egress: egressScopes(model),
  };
}

/**
 * Every resource of a translation, each audience in turn: the one list that
 * the snapshot cache encodes and the tests check, so that no audience (such
 * as proxylessMtls once) is left out of either.
 */
export function everyResource(resources: MeshResources): EnvoyResource[] {
  return [
    ...resources.shared,
    ...resources.proxyless,
    ...resources.proxylessMtls,
    ...resources.sidecar,
    ...[...resources.inbound.values()].flat(),
  ];
}
