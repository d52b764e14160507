import { createHash } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import type { EncodedResource, ProxyNode, Snapshot, SnapshotSource } from "../../src/xds/cache/snapshot.js";
import { encodeJson, typeUrl } from "../../src/xds/protos/registry.js";

/**
 * An in-memory stand-in for the pipeline: every proxy gets the same
 * resources, and set() starts a new generation. It counts encodes and
 * snapshotFor calls so tests can see what the server asked for.
 */
export class FakeSnapshotSource implements SnapshotSource {
  generation = 0;
  encodes = 0;
  readonly snapshotsFor: string[] = [];
  private resources = new Map<string, Map<string, EncodedResource>>();
  private readonly listeners = new Set<(generation: number) => void>();

  snapshotFor(node: ProxyNode): Snapshot {
    this.snapshotsFor.push(node.id);
    return { generation: this.generation, resources: this.resources };
  }

  subscribe(listener: (generation: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Replaces every resource and announces a new generation. */
  set(...resources: EncodedResource[]): number {
    const byType = new Map<string, Map<string, EncodedResource>>();
    for (const r of resources) {
      if (!byType.has(r.typeUrl)) byType.set(r.typeUrl, new Map());
      byType.get(r.typeUrl)!.set(r.name, r);
    }
    this.resources = byType;
    this.generation += 1;
    for (const listener of this.listeners) listener(this.generation);
    return this.generation;
  }

  /** Encodes a resource from proto3 JSON, once, as the pipeline's cache does. */
  encode(fullName: string, name: string, json: JsonValue): EncodedResource {
    this.encodes += 1;
    return encoded(fullName, name, encodeJson(fullName, json));
  }
}

export function encoded(fullName: string, name: string, bytes: Uint8Array): EncodedResource {
  const version = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
  return { typeUrl: typeUrl(fullName), name, version, bytes };
}

export const CLUSTER = "envoy.config.cluster.v3.Cluster";
export const ENDPOINTS = "envoy.config.endpoint.v3.ClusterLoadAssignment";
export const LISTENER = "envoy.config.listener.v3.Listener";
export const ROUTE = "envoy.config.route.v3.RouteConfiguration";
export const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";

/** Real Envoy resources; the optional knob changes content (and so the version). */
export const fixtures = {
  cluster: (source: FakeSnapshotSource, name: string, connectTimeout = "1s") =>
    source.encode(CLUSTER, name, {
      name,
      type: "EDS",
      connect_timeout: connectTimeout,
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
    }),
  endpoints: (source: FakeSnapshotSource, cluster: string, ip = "10.0.0.1") =>
    source.encode(ENDPOINTS, cluster, {
      cluster_name: cluster,
      endpoints: [
        { lb_endpoints: [{ endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } } }] },
      ],
    }),
  listener: (source: FakeSnapshotSource, name: string, port = 15001) =>
    source.encode(LISTENER, name, {
      name,
      address: { socket_address: { address: "0.0.0.0", port_value: port } },
    }),
  route: (source: FakeSnapshotSource, name: string, cluster: string) =>
    source.encode(ROUTE, name, {
      name,
      virtual_hosts: [
        { name: "all", domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster } }] },
      ],
    }),
};
