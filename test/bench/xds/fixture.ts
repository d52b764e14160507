/**
 * The xDS benchmark's workload: a synthetic cluster of S Services and E
 * endpoints in one namespace, put through Skiff's real compile and translate.
 *
 * - Every Service has one HTTP port and a ClusterIP; the endpoints are spread
 *   evenly over the Services, each a labelled Pod with its own 10.x address,
 *   listed in EndpointSlices of at most 100 endpoints as Kubernetes makes them.
 * - There is no Mesh object, so no Pod is a meshed workload: the sidecar view
 *   (what a benchmark proxy receives) is the shared resources plus the
 *   sidecar group, with no inbound side and no mTLS.
 * - The peer file holds exactly that view as proto3 JSON, one array per type,
 *   for the go-control-plane peer (hack/xdsbench).
 *
 * As a program: `tsx test/bench/xds/fixture.ts --services S --endpoints E --out FILE`
 * writes the peer file and prints the resource counts.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import { encodeJson } from "../../../src/xds/protos/registry.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  messageName,
  ROUTE_TYPE,
  type EnvoyResource,
} from "../../../src/xds/translate/resource.js";
import { translate, type MeshResources } from "../../../src/xds/translate/translate.js";

export const NAMESPACE = "bench";
const PORT = 8080;
const SLICE_SIZE = 100;

export interface FixtureOptions {
  readonly services: number;
  readonly endpoints: number;
}

/** The node id of benchmark proxy i: an Envoy sidecar of a Pod that does not exist, so no inbound side. */
export function benchNodeId(i: number, prefix = "load"): string {
  return `sidecar~10.0.0.1~${prefix}-${i}.${NAMESPACE}~${NAMESPACE}.svc.cluster.local`;
}

const ipv4 = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
/** Pod k: 10.1.0.0 upwards; Service i: 10.96.0.0 upwards (room for 5.7M Pods and 3.9M Services). */
const podIp = (k: number) => ipv4(((10 << 24) | (1 << 16)) + k);
const clusterIp = (i: number) => ipv4(((10 << 24) | (96 << 16)) + i);

/** The synthetic cluster state; pure, so every process that builds it gets the same one. */
export function clusterState({ services, endpoints }: FixtureOptions): ClusterState {
  if (services < 1 || endpoints < 0) throw new Error("need at least one Service");
  const width = String(services - 1).length;
  const namespaces: INamespace[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } }];
  const serviceList: IService[] = [];
  const slices: IEndpointSlice[] = [];
  const pods: IPod[] = [];
  let k = 0;
  for (let i = 0; i < services; i++) {
    const name = `svc-${String(i).padStart(width, "0")}`;
    serviceList.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: NAMESPACE },
      spec: {
        clusterIP: clusterIp(i),
        selector: { app: name },
        ports: [{ name: "http", port: PORT, targetPort: PORT }],
      },
    });
    const count = Math.floor(endpoints / services) + (i < endpoints % services ? 1 : 0);
    const members: { pod: string; ip: string }[] = [];
    for (let j = 0; j < count; j++, k++) {
      const pod = `${name}-${j}`;
      const ip = podIp(k);
      members.push({ pod, ip });
      pods.push({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod, namespace: NAMESPACE, labels: { app: name, version: "v1" } },
        spec: { serviceAccountName: name, containers: [{ name: "app", image: "bench" }] },
        status: { phase: "Running", podIP: ip },
      });
    }
    for (let s = 0; s * SLICE_SIZE < members.length; s++) {
      slices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${name}-${s}`,
          namespace: NAMESPACE,
          labels: { "kubernetes.io/service-name": name },
        },
        addressType: "IPv4",
        ports: [{ name: "http", port: PORT, protocol: "TCP" }],
        endpoints: members.slice(s * SLICE_SIZE, (s + 1) * SLICE_SIZE).map(({ pod, ip }) => ({
          addresses: [ip],
          conditions: { ready: true },
          targetRef: { kind: "Pod", name: pod, namespace: NAMESPACE },
        })),
      });
    }
  }
  return {
    namespaces,
    services: serviceList,
    endpointSlices: slices,
    pods,
    trafficPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
  };
}

export interface Fixture {
  readonly resources: MeshResources;
  /** What a benchmark proxy receives: shared plus sidecar, a later resource replacing an earlier one of the same name. */
  readonly sidecarView: readonly EnvoyResource[];
  /** Resources that differ in type, name or content across every group: what Skiff encodes once each. */
  readonly distinctResources: number;
  readonly compileMs: number;
  readonly translateMs: number;
}

/** Builds the cluster state and runs compile and translate on it. */
export function buildFixture(options: FixtureOptions): Fixture {
  const state = clusterState(options);
  let started = performance.now();
  const { model } = compile(state);
  const compileMs = performance.now() - started;
  started = performance.now();
  const resources = translate(model);
  const translateMs = performance.now() - started;
  return {
    resources,
    sidecarView: sidecarView(resources),
    distinctResources: distinctResources(resources),
    compileMs,
    translateMs,
  };
}

export function sidecarView(resources: MeshResources): EnvoyResource[] {
  const view = new Map<string, EnvoyResource>();
  for (const r of [...resources.shared, ...resources.sidecar]) view.set(`${r.typeUrl}\0${r.name}`, r);
  return [...view.values()];
}

/** Every resource of every group (whatever groups MeshResources has), counted once per type, name and content. */
export function distinctResources(resources: MeshResources): number {
  const all: EnvoyResource[] = [];
  for (const group of Object.values(resources) as unknown[]) {
    if (Array.isArray(group)) all.push(...(group as EnvoyResource[]));
    else if (group instanceof Map) for (const list of group.values()) all.push(...(list as EnvoyResource[]));
  }
  return new Set(all.map((r) => `${r.typeUrl}\0${r.name}\0${JSON.stringify(r.json)}`)).size;
}

const FILE_KEYS: Record<string, string> = {
  [CLUSTER_TYPE]: "clusters",
  [ENDPOINT_TYPE]: "endpoints",
  [LISTENER_TYPE]: "listeners",
  [ROUTE_TYPE]: "routes",
};

/** The peer's resource file: {clusters, endpoints, listeners, routes}, each an array of proto3 JSON messages. */
export function peerFile(view: readonly EnvoyResource[]): Record<string, unknown[]> {
  const file: Record<string, unknown[]> = { clusters: [], endpoints: [], listeners: [], routes: [] };
  for (const r of view) {
    const key = FILE_KEYS[r.typeUrl];
    if (!key) throw new Error(`the peer file has no place for ${r.typeUrl} (${r.name})`);
    file[key]!.push(r.json);
  }
  return file;
}

/** The resources of a peer file (or of a change file in its format), as translate emits them. */
export function fromPeerFile(file: Record<string, unknown[] | undefined>): EnvoyResource[] {
  return Object.entries(FILE_KEYS).flatMap(([typeUrl, fileKey]) =>
    (file[fileKey] ?? []).map((entry) => {
      const json = entry as JsonObject;
      // A ClusterLoadAssignment is named by its cluster_name; the other types by name.
      const name = typeUrl === ENDPOINT_TYPE ? json.cluster_name : json.name;
      if (typeof name !== "string") throw new Error(`a ${fileKey} entry has no name`);
      return { typeUrl, name, json };
    }),
  );
}

/**
 * Checks that the view is what Skiff itself serves a benchmark proxy: the
 * same names per type and the same encoded bytes, from a MeshSnapshots
 * published with the translation. Returns the encoded size of the view.
 */
export function checkViewAgainstSkiff(fixture: Fixture): { bytes: number; byType: Record<string, number> } {
  const snapshots = new MeshSnapshots();
  snapshots.publish(fixture.resources);
  const served = snapshots.snapshotFor({ id: benchNodeId(0), cluster: NAMESPACE, metadata: {} }).resources;
  const byType: Record<string, number> = {};
  let bytes = 0;
  const problems: string[] = [];
  for (const r of fixture.sidecarView) {
    const encoded = served.get(r.typeUrl)?.get(r.name);
    const mine = encodeJson(messageName(r.typeUrl), r.json);
    if (!encoded) problems.push(`Skiff does not serve ${r.typeUrl} ${r.name}`);
    else if (Buffer.compare(Buffer.from(encoded.bytes), Buffer.from(mine)) !== 0)
      problems.push(`Skiff serves other bytes for ${r.typeUrl} ${r.name}`);
    byType[FILE_KEYS[r.typeUrl] ?? r.typeUrl] = (byType[FILE_KEYS[r.typeUrl] ?? r.typeUrl] ?? 0) + 1;
    bytes += mine.length;
  }
  const servedCount = [...served.values()].reduce((n, m) => n + m.size, 0);
  if (servedCount !== fixture.sidecarView.length)
    problems.push(`Skiff serves ${servedCount} resources, the view has ${fixture.sidecarView.length}`);
  if (problems.length > 0) throw new Error(`the peer's view differs from Skiff's:\n${problems.join("\n")}`);
  return { bytes, byType };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      services: { type: "string", default: process.env.SERVICES ?? "1000" },
      endpoints: { type: "string", default: process.env.ENDPOINTS ?? "10000" },
      out: { type: "string" },
    },
  });
  const fixture = buildFixture({ services: Number(values.services), endpoints: Number(values.endpoints) });
  const { bytes, byType } = checkViewAgainstSkiff(fixture);
  if (values.out) writeFileSync(values.out, JSON.stringify(peerFile(fixture.sidecarView)));
  console.log(
    JSON.stringify({
      ...byType,
      viewBytes: bytes,
      distinctResources: fixture.distinctResources,
      compileMs: Math.round(fixture.compileMs),
      translateMs: Math.round(fixture.translateMs),
    }),
  );
}
