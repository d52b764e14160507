import { inEgressScope } from "../../ir/egress.js";
import type { MeshModel, ServiceModel } from "../../ir/model.js";
import { hostPortName, outboundClusterName, outboundListenerName } from "./names.js";

/** What a scoped sidecar is served of the Services' outbound resources. */
export interface EgressScope {
  /** Equal for workloads whose hosts are equal: their proxies share views. */
  readonly key: string;
  /** The names of the outbound resources of the Services in scope. */
  readonly names: ReadonlySet<string>;
}

export interface EgressScopes {
  /** Per sidecar workload (namespace/name) with a scope; a workload not here gets every Service. */
  readonly byWorkload: ReadonlyMap<string, EgressScope>;
  /**
   * The names of every Service's outbound resources: what a scope filters.
   * Others (virtualOutbound, the passthrough clusters) every sidecar gets.
   * Empty when no workload has a scope.
   */
  readonly serviceNames: ReadonlySet<string>;
}

/**
 * The egress scope of each scoped sidecar workload, as resource names. A
 * Service's resources are its own (a TrafficPolicy routes, mirrors and
 * splits only among the subsets of its target), so a Service in scope
 * brings everything its policy needs. Pure.
 */
export function egressScopes(model: MeshModel): EgressScopes {
  const scoped = model.workloads.filter((w) => w.egress !== undefined);
  if (scoped.length === 0) return { byWorkload: new Map(), serviceNames: new Set() };
  const byKey = new Map<string, EgressScope>();
  const byWorkload = new Map<string, EgressScope>();
  for (const workload of scoped) {
    const key = workload.egress!.map((h) => `${h.namespace}/${h.dnsName}`).join(",");
    let scope = byKey.get(key);
    if (!scope) {
      const names = new Set(
        model.services.filter((s) => inEgressScope(workload.egress, s)).flatMap(serviceOutboundNames),
      );
      byKey.set(key, (scope = { key, names }));
    }
    byWorkload.set(workload.key, scope);
  }
  return { byWorkload, serviceNames: new Set(model.services.flatMap(serviceOutboundNames)) };
}

const memo = new WeakMap<ServiceModel, readonly string[]>();

/**
 * Every name translate gives a Service's outbound resources: per port and
 * subset its cluster and ClusterLoadAssignment, per port its route
 * configuration and (with a ClusterIP) its outbound listener. Memoised per
 * model object, which compile reuses while the Service is unchanged.
 */
export function serviceOutboundNames(service: ServiceModel): readonly string[] {
  let names = memo.get(service);
  if (!names) {
    const subsets = [undefined, ...(service.traffic?.subsets ?? []).map((s) => s.name)];
    names = service.ports.flatMap((p) => [
      hostPortName(service.hostname, p.port),
      ...(service.clusterIP ? [outboundListenerName(service.clusterIP, p.port)] : []),
      ...subsets.map((subset) => outboundClusterName(p.port, subset, service.hostname)),
    ]);
    memo.set(service, names);
  }
  return names;
}
