import type { JsonObject } from "@bufbuild/protobuf";
import { createSelfSignedCa } from "../../src/pki/issue.js";
import { issueWorkloadCertificate, workloadSecrets } from "./workload-secrets.js";
import type { MeshResources } from "../../src/xds/translate/translate.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
  SECRET_TYPE,
  type EnvoyResource,
} from "../../src/xds/translate/resource.js";

/**
 * Turns what the xDS server would send a sidecar into static_resources that
 * `envoy --mode validate` loads in one run, so that the real Envoy builds
 * every listener, filter, route and cluster as it would on an ADS push:
 * - RDS becomes the route configuration inlined (route_config), and EDS the
 *   cluster's load_assignment (a STATIC cluster), since validate mode fetches
 *   nothing;
 * - SDS references name static secrets instead (the workload certificate
 *   and trust bundle that the caller issues, as the xDS server's SDS sends
 *   them): Envoy 1.40 in validate mode crashes (SIGSEGV) on a static
 *   cluster whose TLS context fetches its secrets over ADS;
 * - each workload's inbound side is the same listener and cluster names on
 *   every sidecar, so here each one gets its names suffixed and its listener
 *   its own port: many sidecars' inbound sides then fit one Envoy.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The static_resources of one validation bootstrap: what a sidecar receives, plus inbound sides. */
export interface StaticResources {
  listeners: Json[];
  clusters: Json[];
  secrets: Json[];
}

/** First port given to the renamed inbound listeners (they need distinct addresses). */
const INBOUND_PORT_BASE = 20000;

/** A sidecar's view (shared + sidecar) and every sidecar workload's inbound side, as static resources. */
export function sidecarStaticResources(
  resources: MeshResources,
  workloads: readonly string[],
  secrets: readonly EnvoyResource[],
): StaticResources {
  const routes = new Map(
    resources.shared.filter((r) => r.typeUrl === ROUTE_TYPE).map((r) => [r.name, r.json as Json]),
  );
  const assignments = new Map(
    resources.shared.filter((r) => r.typeUrl === ENDPOINT_TYPE).map((r) => [r.name, r.json as Json]),
  );
  const out: StaticResources = { listeners: [], clusters: [], secrets: [] };
  const add = (list: readonly EnvoyResource[]) => {
    for (const r of list) {
      if (r.typeUrl === LISTENER_TYPE) out.listeners.push(staticSecrets(inlineRoutes(r.json, routes)));
      else if (r.typeUrl === CLUSTER_TYPE)
        out.clusters.push(staticSecrets(inlineEndpoints(r.json, assignments)));
      else if (r.typeUrl === SECRET_TYPE) out.secrets.push(r.json);
      else if (r.typeUrl !== ROUTE_TYPE && r.typeUrl !== ENDPOINT_TYPE)
        throw new Error(`no static form for ${r.typeUrl} ${r.name}`);
    }
  };
  add(resources.shared);
  add(resources.sidecar);
  add(secrets);
  workloads.forEach((key, i) => {
    const inbound = resources.inbound.get(key);
    if (!inbound) throw new Error(`no inbound resources for ${key}`);
    add(renamed(inbound, `~${i}`, INBOUND_PORT_BASE + i));
  });
  return out;
}

/** First port given to the listeners that stand in for proxyless clients' api_listeners. */
const PROXYLESS_PORT_BASE = 30000;

/**
 * What a proxyless gRPC client receives, in the part that Envoy can judge:
 * the shared clusters, and each api_listener's HttpConnectionManager with its
 * proxyless route configuration inlined, as a listener of its own (Envoy
 * takes one api_listener at most, and only from a bootstrap). The mTLS
 * clusters and the gRPC server listeners name certificate providers that
 * only gRPC implements, so they are not here.
 */
export function proxylessStaticResources(
  resources: MeshResources,
  secrets: readonly EnvoyResource[],
): StaticResources {
  // The proxyless route configurations replace the shared ones of the same names.
  const routes = new Map(
    [...resources.shared, ...resources.proxyless]
      .filter((r) => r.typeUrl === ROUTE_TYPE)
      .map((r) => [r.name, r.json as Json]),
  );
  const assignments = new Map(
    resources.shared.filter((r) => r.typeUrl === ENDPOINT_TYPE).map((r) => [r.name, r.json as Json]),
  );
  const listeners = resources.proxyless
    .filter((r) => r.typeUrl === LISTENER_TYPE)
    .map((r, i) => {
      const manager = (r.json as Json).api_listener?.api_listener;
      if (!manager) throw new Error(`proxyless listener ${r.name} has no api_listener`);
      return {
        name: `proxyless~${r.name}`,
        address: { socket_address: { address: "127.0.0.1", port_value: PROXYLESS_PORT_BASE + i } },
        bind_to_port: false,
        filter_chains: [
          {
            filters: [
              {
                name: "envoy.filters.network.http_connection_manager",
                typed_config: inlineRoutes(manager, routes),
              },
            ],
          },
        ],
      };
    });
  const clusters = resources.shared
    .filter((r) => r.typeUrl === CLUSTER_TYPE)
    .map((r) => staticSecrets(inlineEndpoints(r.json, assignments)));
  return { listeners, clusters, secrets: secrets.map((r) => r.json) };
}

/**
 * A sidecar bootstrap (as the operator renders it) with these static
 * resources added to its own.
 */
export function withStaticResources(bootstrap: Json, added: StaticResources): Json {
  const own = bootstrap.static_resources ?? {};
  return {
    ...bootstrap,
    static_resources: {
      ...own,
      listeners: [...(own.listeners ?? []), ...added.listeners],
      clusters: [...(own.clusters ?? []), ...added.clusters],
      secrets: [...(own.secrets ?? []), ...added.secrets],
    },
  };
}

/**
 * The same resources with every name they define suffixed (and every string
 * equal to such a name: the references between them), and listeners moved to
 * `port`.
 */
function renamed(resources: readonly EnvoyResource[], suffix: string, port: number): EnvoyResource[] {
  const names = new Set(resources.map((r) => r.name));
  const rename = (node: unknown): unknown => {
    if (typeof node === "string") return names.has(node) ? `${node}${suffix}` : node;
    if (Array.isArray(node)) return node.map(rename);
    if (node && typeof node === "object")
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, rename(v)]));
    return node;
  };
  return resources.map((r) => {
    const json = rename(r.json) as Json;
    if (r.typeUrl === LISTENER_TYPE && json.address?.socket_address)
      json.address = { socket_address: { ...json.address.socket_address, port_value: port } };
    return { ...r, name: `${r.name}${suffix}`, json: json as JsonObject };
  });
}

/** Every HttpConnectionManager's rds replaced by the route configuration it names. */
function inlineRoutes(listener: Json, routes: ReadonlyMap<string, Json>): Json {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== "object") return node;
    const object = node as Json;
    if (object.rds && typeof object.rds.route_config_name === "string") {
      const { rds, ...rest } = object;
      const route = routes.get(rds.route_config_name);
      if (!route)
        throw new Error(`listener ${String(listener.name)}: no route configuration ${rds.route_config_name}`);
      return { ...(walk(rest) as Json), route_config: route };
    }
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, walk(v)]));
  };
  return walk(listener) as Json;
}

/** An EDS cluster as a STATIC one holding its ClusterLoadAssignment (empty when there is none). */
function inlineEndpoints(cluster: JsonObject, assignments: ReadonlyMap<string, Json>): Json {
  const json = structuredClone(cluster) as Json;
  if (json.type !== "EDS") return json;
  const name: string = json.eds_cluster_config?.service_name ?? json.name;
  delete json.eds_cluster_config;
  json.type = "STATIC";
  json.load_assignment = assignments.get(name) ?? { cluster_name: name };
  return json;
}

/** Every SDS secret reference (a name and an ADS config source) as a reference to a static secret of that name. */
function staticSecrets(node: Json): Json {
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (!value || typeof value !== "object") return value;
    const object = value as Json;
    if (typeof object.name === "string" && object.sds_config) return { name: object.name };
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, walk(v)]));
  };
  return walk(node) as Json;
}

/** The SDS secrets a sidecar of `case-0/reviews` holds: a workload certificate and the trust bundle, freshly issued. */
export async function issuedWorkloadSecrets(now = new Date()): Promise<EnvoyResource[]> {
  const ca = await createSelfSignedCa(
    "CN=policy search root",
    new Date(now.getTime() - 60_000),
    new Date(now.getTime() + 86_400_000),
  );
  const certificate = await issueWorkloadCertificate(ca, {
    trustDomain: "cluster.local",
    namespace: "case-0",
    serviceAccount: "reviews",
    validityMs: 3_600_000,
    now,
  });
  return workloadSecrets(certificate, ca.pair.certPem);
}
