import type { MeshModel, ServiceModel, WorkloadModel } from "../../ir/model.js";
import { outboundClusters, passthroughClusters, proxylessMtlsClusters } from "./clusters.js";
import { clusterLoadAssignments } from "./endpoints.js";
import { egressScopes, type EgressScopes } from "./egress-scopes.js";
import { inboundResources } from "./inbound.js";
import { outboundListeners, proxylessListeners, virtualOutboundListener } from "./listeners.js";
import { proxylessInboundResources } from "./proxyless-inbound.js";
import { servicesByWorkload, type ServiceResources, type TranslateMemo } from "./memo.js";
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

/**
 * The mesh model as Envoy resources. Pure: equal models give identical
 * output. With a `memo` (see TranslateMemo), a model object translated
 * before gives the very same resource objects as then.
 */
export function translate(model: MeshModel, memo?: TranslateMemo): MeshResources {
  memo?.begin(model);
  const services = model.services.map((s) =>
    memo ? memo.service(s, () => serviceResources(model, s)) : serviceResources(model, s),
  );
  // The same objects on every run, so that the snapshots' per-type maps that hold them can be kept.
  const constant = (name: string, build: () => readonly EnvoyResource[]) =>
    memo ? memo.constant(name, build) : build();
  const listing = servicesByWorkload(model, memo && ((s) => memo.workloadsListedBy(s)));
  const inbound = (w: WorkloadModel) => {
    const listed = listing.get(w.key) ?? [];
    // Only the Services that list the workload shape its inbound side (see servedPorts).
    const build = () => {
      const own = { ...model, services: listed };
      return w.dataPlane === "proxyless" ? proxylessInboundResources(own, w) : inboundResources(own, w);
    };
    return memo ? memo.workload(w, listed, build) : build();
  };
  return {
    shared: services.flatMap((s) => s.shared),
    proxyless: services.flatMap((s) => s.proxyless),
    proxylessMtls: services.flatMap((s) => s.proxylessMtls),
    sidecar: [
      ...constant("virtualOutbound", () => [virtualOutboundListener()]),
      ...services.flatMap((s) => s.sidecar),
      ...constant("passthrough", passthroughClusters),
    ],
    inbound: new Map(model.workloads.map((w) => [w.key, inbound(w)])),
    egress: egressScopes(model),
  };
}

/** One Service's resources, by audience. */
function serviceResources(model: MeshModel, s: ServiceModel): ServiceResources {
  return {
    shared: [
      ...outboundClusters(s, model.trustDomain),
      ...clusterLoadAssignments(s, model.telemetry),
      ...routeConfigurations(s),
    ],
    proxyless: [...proxylessListeners(s), ...proxylessRouteConfigurations(s)],
    proxylessMtls: proxylessMtlsClusters(s, model.trustDomain),
    sidecar: outboundListeners(s, model.telemetry),
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
