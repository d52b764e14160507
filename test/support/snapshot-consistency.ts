import { CERTIFICATE_PROVIDER_METADATA } from "../../src/mesh/proxyless.js";
import type { MeshResources } from "../../src/xds/translate/translate.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  ROUTE_TYPE,
  type EnvoyResource,
} from "../../src/xds/translate/resource.js";

type Json = Record<string, unknown>;

/** One kind of proxy: what it receives, as the snapshot cache assembles it (mesh-snapshots.ts). */
export interface ProxyView {
  readonly label: string;
  readonly resources: readonly EnvoyResource[];
}

/**
 * Every kind of proxy a translation serves: a sidecar of each workload (and
 * one of none), and a proxyless client with and without certificates, of
 * each proxyless workload and of none. Later resources of a name replace
 * earlier ones, as in the cache.
 */
export function proxyViews(resources: MeshResources, proxylessWorkloads: readonly string[]): ProxyView[] {
  const view = (label: string, ...lists: (readonly EnvoyResource[])[]): ProxyView => {
    const byName = new Map<string, EnvoyResource>();
    for (const r of lists.flat()) byName.set(`${r.typeUrl} ${r.name}`, r);
    return { label, resources: [...byName.values()] };
  };
  const inbound = (workload: string) => resources.inbound.get(workload) ?? [];
  const sidecars = [...resources.inbound.keys()].filter((w) => !proxylessWorkloads.includes(w));
  const proxyless = (certificates: boolean) => [
    ...resources.proxyless,
    ...(certificates ? resources.proxylessMtls : []),
  ];
  return [
    view("a sidecar of no workload", resources.shared, resources.sidecar),
    ...sidecars.map((w) => view(`the sidecar of ${w}`, resources.shared, resources.sidecar, inbound(w))),
    ...[false, true].flatMap((certificates) => {
      const kind = `a proxyless client ${certificates ? "with" : "without"} ${CERTIFICATE_PROVIDER_METADATA}`;
      return [
        view(`${kind} of no workload`, resources.shared, proxyless(certificates)),
        ...proxylessWorkloads.map((w) =>
          view(`${kind} of ${w}`, resources.shared, proxyless(certificates), inbound(w)),
        ),
      ];
    }),
  ];
}

/**
 * What go-control-plane's Snapshot.Consistent() checks, for what one proxy
 * receives: every ClusterLoadAssignment that an EDS cluster names and every
 * route configuration that a listener's RDS names is there too. A proxy
 * missing one keeps that cluster warming or that listener without routes.
 */
export function inconsistencies(view: ProxyView): string[] {
  const names = (typeUrl: string) =>
    new Set(view.resources.filter((r) => r.typeUrl === typeUrl).map((r) => r.name));
  const assignments = names(ENDPOINT_TYPE);
  const routes = names(ROUTE_TYPE);
  const problems: string[] = [];
  for (const r of view.resources) {
    const json = r.json as Json;
    if (r.typeUrl === CLUSTER_TYPE && json.type === "EDS") {
      const wanted = String((json.eds_cluster_config as Json | undefined)?.service_name ?? r.name);
      if (!assignments.has(wanted))
        problems.push(`${view.label}: cluster ${r.name} names endpoints ${wanted}, not sent`);
    }
    for (const wanted of namedRouteConfigurations(json))
      if (!routes.has(wanted)) problems.push(`${view.label}: ${r.name} names routes ${wanted}, not sent`);
  }
  return problems;
}

/** The route configurations that any RDS block inside a resource names. */
function namedRouteConfigurations(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(namedRouteConfigurations);
  if (value === null || typeof value !== "object") return [];
  const rds = (value as Json).rds as Json | undefined;
  const own = typeof rds?.route_config_name === "string" ? [rds.route_config_name] : [];
  return [...own, ...Object.values(value).flatMap(namedRouteConfigurations)];
}
