import assert from "node:assert/strict";
import type { IPod } from "kubernetes-models/v1";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { EGRESS_HOSTS_ANNOTATION } from "../../../src/mesh/annotations.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import type { ProxyNode } from "../../../src/xds/cache/snapshot.js";
import type { ProxyState } from "../../../src/xds/server/proxy-state.js";
import { ProxyIndex } from "../../../src/xds/status/proxy-index.js";
import { serviceOutboundNames } from "../../../src/xds/translate/egress-scopes.js";
import {
  PASSTHROUGH_CLUSTER,
  serviceResourceNames,
  VIRTUAL_INBOUND,
  VIRTUAL_OUTBOUND,
} from "../../../src/xds/translate/names.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  ROUTE_TYPE,
} from "../../../src/xds/translate/resource.js";
import { translate } from "../../../src/xds/translate/translate.js";
import { injectionSettings } from "../../../src/webhook/injection-settings.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

/**
 * A mesh of namespaces a, b and shared, with Services a/one (with subsets
 * v1 and v2), a/two, b/three and shared/echo, each with one Pod behind it,
 * and client Pods whose annotations are the test's.
 */
function meshState(
  clients: Record<string, string | undefined>,
  defaults?: NonNullable<Mesh["spec"]>["defaults"],
): ClusterState {
  const services = [
    { namespace: "a", name: "one", ip: "10.96.0.1" },
    { namespace: "a", name: "two", ip: "10.96.0.2" },
    { namespace: "b", name: "three", ip: "10.96.0.3" },
    { namespace: "shared", name: "echo", ip: "10.96.0.4" },
  ];
  const pod = (namespace: string, name: string, ip: string, annotations: Record<string, string> = {}) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      namespace,
      name,
      labels: { app: name, version: "v1" },
      annotations: { "sidecar.skiff.dev/status": "injected", ...annotations },
    },
    spec: { containers: [{ name: "app", image: "app" }] },
    status: { phase: "Running", podIP: ip },
  });
  return {
    mesh: {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: { defaults },
    },
    namespaces: ["a", "b", "shared"].map((name) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { "skiff.dev/injection": "enabled" } },
    })),
    services: services.map((s) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: s.namespace, name: s.name },
      spec: {
        clusterIP: s.ip,
        selector: { app: s.name },
        ports: [{ name: "http", port: 80, targetPort: 8080 }],
      },
    })),
    endpointSlices: services.map((s, i) => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: s.namespace,
        name: `${s.name}-x`,
        labels: { "kubernetes.io/service-name": s.name },
      },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      endpoints: [
        {
          addresses: [`10.1.0.${i + 1}`],
          conditions: { ready: true },
          targetRef: { kind: "Pod", namespace: s.namespace, name: `${s.name}-pod` },
        },
      ],
    })),
    pods: [
      ...services.map((s, i) => pod(s.namespace, `${s.name}-pod`, `10.1.0.${i + 1}`)),
      ...Object.entries(clients).map(([key, hosts], i) => {
        const [namespace, name] = key.split("/") as [string, string];
        return pod(
          namespace,
          name,
          `10.2.0.${i + 1}`,
          hosts === undefined ? {} : { [EGRESS_HOSTS_ANNOTATION]: hosts },
        );
      }),
    ],
    trafficPolicies: [
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { namespace: "a", name: "one", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
        spec: {
          targetRef: { kind: "Service", name: "one" },
          subsets: [
            { name: "v1", labels: { version: "v1" } },
            { name: "v2", labels: { version: "v2" } },
          ],
          http: [{ route: [{ subset: "v1" }], mirror: { subset: "v2" } }],
        },
      },
    ],
    peerAuthentications: [],
    authorizationPolicies: [],
  } as unknown as ClusterState;
}

function published(state: ClusterState): MeshSnapshots {
  const snapshots = new MeshSnapshots();
  snapshots.publish(translate(compile(state).model));
  return snapshots;
}

const sidecar = (pod: string): ProxyNode => {
  const [namespace, name] = pod.split("/") as [string, string];
  return {
    id: `sidecar~10.2.0.9~${name}.${namespace}~${namespace}.svc.cluster.local`,
    cluster: "",
    metadata: {},
  };
};
const names = (s: MeshSnapshots, node: ProxyNode, typeUrl: string) =>
  [...(s.snapshotFor(node).resources.get(typeUrl)?.keys() ?? [])].sort();
const hostsIn = (s: MeshSnapshots, node: ProxyNode) =>
  [
    ...new Set(
      names(s, node, CLUSTER_TYPE)
        .filter((n) => n.startsWith("outbound|"))
        .map((n) => n.split("|")[3]),
    ),
  ].sort();

const ONE = "one.a.svc.cluster.local";
const TWO = "two.a.svc.cluster.local";
const THREE = "three.b.svc.cluster.local";
const ECHO = "echo.shared.svc.cluster.local";

describe("egress scope: each sidecar gets the Services it may call", () => {
  it("gives a sidecar with no annotation, under the default Mesh, the whole mesh", () => {
    const s = published(meshState({ "a/client": undefined }));
    assert.deepEqual(hostsIn(s, sidecar("a/client")), [ECHO, THREE, ONE, TWO].sort());
    assert.equal(compile(meshState({ "a/client": undefined })).model.workloads[0]!.egress, undefined);
  });

  it("gives ./* and shared/* the own namespace's Services and shared's, all of each Service's resources", () => {
    const s = published(meshState({ "a/client": "./*,shared/*" }));
    const client = sidecar("a/client");
    assert.deepEqual(hostsIn(s, client), [ECHO, ONE, TWO].sort());
    // Subset clusters and their endpoints (the policy's mirror and route targets) come with the Service.
    assert.deepEqual(
      names(s, client, CLUSTER_TYPE).filter((n) => n.includes(ONE)),
      [`outbound|80||${ONE}`, `outbound|80|v1|${ONE}`, `outbound|80|v2|${ONE}`].sort(),
    );
    assert.deepEqual(
      names(s, client, ENDPOINT_TYPE),
      names(s, client, CLUSTER_TYPE).filter((n) => n.startsWith("outbound|")),
    );
    assert.deepEqual(names(s, client, ROUTE_TYPE), [`${ECHO}:80`, `${ONE}:80`, `${TWO}:80`]);
    // Out-of-scope listeners are gone; virtualOutbound's passthrough takes their traffic.
    assert.deepEqual(
      names(s, client, LISTENER_TYPE),
      ["10.96.0.1_80", "10.96.0.2_80", "10.96.0.4_80", VIRTUAL_INBOUND, VIRTUAL_OUTBOUND].sort(),
    );
    assert.ok(names(s, client, CLUSTER_TYPE).includes(PASSTHROUGH_CLUSTER));
  });

  it("follows the Mesh's defaults.egressHosts where a Pod has no annotation, and the annotation over it", () => {
    const s = published(
      meshState(
        { "b/plain": undefined, "b/annotated": "*/echo.shared.svc.cluster.local" },
        { egressHosts: ["./*"] },
      ),
    );
    assert.deepEqual(hostsIn(s, sidecar("b/plain")), [THREE]);
    assert.deepEqual(hostsIn(s, sidecar("b/annotated")), [ECHO]);
  });

  it("gives ~/* no Service, and */* the whole mesh whatever else is listed", () => {
    const s = published(meshState({ "a/none": "~/*", "a/all": "~/*,*/*" }));
    assert.deepEqual(hostsIn(s, sidecar("a/none")), []);
    assert.deepEqual(names(s, sidecar("a/none"), LISTENER_TYPE), [VIRTUAL_INBOUND, VIRTUAL_OUTBOUND]);
    assert.deepEqual(hostsIn(s, sidecar("a/all")), [ECHO, THREE, ONE, TWO].sort());
  });

  it("gives a workload whose annotation is malformed (added after admission) the whole mesh", () => {
    const s = published(meshState({ "a/client": "reviews" }));
    assert.deepEqual(hostsIn(s, sidecar("a/client")), [ECHO, THREE, ONE, TWO].sort());
  });

  it("leaves proxies that are not scoped sidecars (an unknown Pod, a proxyless client) the whole mesh", () => {
    const s = published(meshState({ "a/client": "~/*" }));
    assert.deepEqual(hostsIn(s, sidecar("a/unknown")), [ECHO, THREE, ONE, TWO].sort());
    const grpc: ProxyNode = { ...sidecar("a/client"), metadata: { GENERATOR: "grpc" } };
    assert.ok(names(s, grpc, CLUSTER_TYPE).includes(`outbound|80||${THREE}`));
  });

  it("shares the maps of types a workload's own resources leave alone between workloads of one scope", () => {
    const s = published(meshState({ "a/c1": "./*", "a/c2": "./*", "a/c3": "shared/*" }));
    const map = (pod: string, typeUrl: string) => s.snapshotFor(sidecar(pod)).resources.get(typeUrl);
    assert.equal(map("a/c1", ENDPOINT_TYPE), map("a/c2", ENDPOINT_TYPE));
    assert.equal(map("a/c1", ROUTE_TYPE), map("a/c2", ROUTE_TYPE));
    assert.notEqual(map("a/c1", ENDPOINT_TYPE), map("a/c3", ENDPOINT_TYPE));
    // Each keeps its own inbound side.
    assert.notEqual(map("a/c1", LISTENER_TYPE), map("a/c2", LISTENER_TYPE));
  });

  it("gives every view of a scope, over a sequence of changes, what a fresh cache would", () => {
    const steps: [Record<string, string | undefined>, NonNullable<Mesh["spec"]>["defaults"]][] = [
      [{ "a/client": "./*" }, undefined],
      [{ "a/client": "./*,b/*" }, undefined],
      [{ "a/client": undefined }, { egressHosts: ["shared/*"] }],
      [{ "a/client": undefined }, undefined],
      [{ "a/client": "~/*" }, undefined],
    ];
    const kept = new MeshSnapshots();
    for (const [clients, defaults] of steps) {
      const state = meshState(clients, defaults);
      kept.publish(translate(compile(state).model));
      const fresh = published(state);
      for (const typeUrl of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE])
        assert.deepEqual(
          [...(kept.snapshotFor(sidecar("a/client")).resources.get(typeUrl) ?? new Map())].map(([n, r]) => [
            n,
            r.bytes,
          ]),
          [...(fresh.snapshotFor(sidecar("a/client")).resources.get(typeUrl) ?? new Map())].map(([n, r]) => [
            n,
            r.bytes,
          ]),
        );
    }
  });

  it("knows the name of every outbound resource translate gives a Service (each golden input)", () => {
    const data = join(import.meta.dirname, "..", "..", "testdata", "translate");
    const shared = new Set([VIRTUAL_OUTBOUND, PASSTHROUGH_CLUSTER, "InboundPassthroughCluster"]);
    for (const file of readdirSync(join(data, "in"))) {
      const { model } = compile(clusterStateFromFiles(join(data, "base.yaml"), join(data, "in", file)));
      const resources = translate(model);
      const translated = [...resources.shared, ...resources.sidecar]
        .map((r) => r.name)
        .filter((n) => !shared.has(n));
      const named = new Set(model.services.flatMap(serviceOutboundNames));
      assert.deepEqual(
        [...new Set(translated)].filter((n) => !named.has(n)),
        [],
        file,
      );
      assert.deepEqual(
        [...named].filter((n) => !translated.includes(n)),
        [],
        file,
      );
    }
  });

  it("counts for a TrafficPolicy's Programmed only the sidecars whose view has its Service", () => {
    const state = meshState({ "a/near": "./*", "b/far": "./*", "b/whole": undefined, "b/behind": "./*" });
    const s = published(state);
    const one = compile(state).model.services.find((svc) => svc.hostname === ONE)!;
    // Wildcard on listeners and clusters, as Envoy subscribes, with the views' maps as the server sends them.
    const proxy = (pod: string, ranGeneration: number): ProxyState => ({
      streamId: 1,
      protocol: "delta",
      node: sidecar(pod),
      peer: "",
      connectedAt: new Date(0),
      types: [LISTENER_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE].map((typeUrl) => ({
        typeUrl,
        awaitingAnswer: false,
        wildcard: typeUrl !== ENDPOINT_TYPE,
        lastSentResources: s.snapshotFor(sidecar(pod)).resources.get(typeUrl)!,
      })),
      ranGeneration,
    });
    const generation = s.currentGeneration;
    const index = new ProxyIndex([
      proxy("a/near", generation),
      proxy("b/far", generation),
      proxy("b/whole", generation),
      // Not yet running the generation: it may still get the Service with it.
      proxy("b/behind", generation - 1),
    ]);
    assert.deepEqual(index.ofService(serviceResourceNames(one), generation), {
      targeted: 3,
      proxyless: 0,
      acked: 2,
      nacked: 0,
      lastNackMessage: "",
    });
  });

  it("refuses, at injection, a Pod whose annotation is malformed, naming the annotation", () => {
    const mesh = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: {},
    } as Mesh;
    const pod = (value: string): IPod => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "a", annotations: { [EGRESS_HOSTS_ANNOTATION]: value } },
      spec: { containers: [{ name: "app", image: "app" }] },
    });
    assert.throws(
      () => injectionSettings(mesh, pod("reviews"), "skiff:test"),
      /sidecar\.skiff\.dev\/egressHosts: "reviews" is not/,
    );
    assert.doesNotThrow(() => injectionSettings(mesh, pod("./*,shared/*"), "skiff:test"));
  });
});
