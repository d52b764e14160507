import assert from "node:assert/strict";
import fc from "fast-check";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { CompileCache } from "../../../src/compile/cache.js";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import {
  EXCLUDE_INBOUND_PORTS_ANNOTATION,
  INJECTION_LABEL,
  PROXYLESS_ANNOTATION,
  STATUS_ANNOTATION,
} from "../../../src/mesh/annotations.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import type { ProxyNode } from "../../../src/xds/cache/snapshot.js";
import { TranslateMemo } from "../../../src/xds/translate/memo.js";
import { translate } from "../../../src/xds/translate/translate.js";
import {
  authorizationPolicySpec,
  peerAuthenticationSpec,
  trafficPolicySpec,
  type PolicyPools,
} from "../../support/arbitrary-policies.js";
import { clusterStateOf } from "../../support/cluster-state.js";

/**
 * The xDS pipeline compiles and translates incrementally (CompileCache,
 * TranslateMemo): what it builds after any sequence of changes must equal
 * what compile and translate build from scratch for the same state. The
 * changes are random puts and deletes of every kind compile reads, each put
 * a new object (as the informers hand out), every other object kept as the
 * same object.
 */

const NAMESPACES = ["shop", "ops"];
const SERVICE_NAMES = ["api", "web", "db"];
const POD_NAMES = ["p0", "p1", "p2"];
const SERVICE_PORTS = [
  { name: "http", port: 80, targetPort: 8080 },
  { name: "grpc", port: 9090, targetPort: 9090 },
  { name: "tcp-db", port: 5432, targetPort: 5432 },
];
const POOLS: PolicyPools = {
  serviceNames: SERVICE_NAMES,
  labelSets: [...SERVICE_NAMES.map((app) => ({ app })), { version: "v1" }, { version: "v2" }],
  ports: [8080, 9090, 5432],
  namespaces: NAMESPACES,
  serviceAccounts: [...SERVICE_NAMES, "default"],
};

type Put = { readonly key: string; readonly object: object };
type Change = { put: Put } | { delete: string };

const namespaceArb = fc.constantFrom(...NAMESPACES);
const created = fc.constantFrom("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
const generation = fc.integer({ min: 1, max: 5 });

const serviceArb = fc
  .record({
    namespace: namespaceArb,
    name: fc.constantFrom(...SERVICE_NAMES),
    ports: fc.subarray(SERVICE_PORTS, { minLength: 1 }),
    headless: fc.boolean(),
  })
  .map(servicePut);

function servicePut({
  namespace,
  name,
  ports,
  headless,
}: {
  namespace: string;
  name: string;
  ports: readonly (typeof SERVICE_PORTS)[number][];
  headless: boolean;
}): Put {
  {
    const service: IService = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace, name },
      spec: {
        clusterIP: headless
          ? "None"
          : `10.96.${NAMESPACES.indexOf(namespace)}.${SERVICE_NAMES.indexOf(name) + 1}`,
        ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort })),
      },
    };
    return { key: `Service/${namespace}/${name}`, object: service };
  }
}

const podArb = fc
  .record({
    namespace: namespaceArb,
    name: fc.constantFrom(...POD_NAMES),
    app: fc.constantFrom(...SERVICE_NAMES),
    version: fc.constantFrom("v1", "v2"),
    dataPlane: fc.constantFrom("sidecar", "proxyless", "none"),
    ownAccount: fc.boolean(),
    phase: fc.constantFrom("Running", "Running", "Pending", "Succeeded"),
    excluded: fc.boolean(),
  })
  .map((p): Put => {
    const annotations: Record<string, string> = {
      ...(p.dataPlane === "sidecar" ? { [STATUS_ANNOTATION]: "injected" } : {}),
      ...(p.dataPlane === "proxyless" ? { [PROXYLESS_ANNOTATION]: "true" } : {}),
      ...(p.excluded ? { [EXCLUDE_INBOUND_PORTS_ANNOTATION]: "5432" } : {}),
    };
    const pod: IPod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        namespace: p.namespace,
        name: p.name,
        labels: { app: p.app, version: p.version },
        annotations,
      },
      spec: {
        serviceAccountName: p.ownAccount ? p.app : "default",
        containers: [{ name: "app", image: p.app }],
      },
      status: {
        phase: p.phase,
        podIP: `10.${NAMESPACES.indexOf(p.namespace) + 1}.0.${POD_NAMES.indexOf(p.name) + 1}`,
      },
    };
    return { key: `Pod/${p.namespace}/${p.name}`, object: pod };
  });

const sliceArb = fc
  .record({
    namespace: namespaceArb,
    service: fc.constantFrom(...SERVICE_NAMES),
    half: fc.constantFrom("a", "b"),
    ports: fc.subarray(SERVICE_PORTS, { minLength: 1 }),
    endpoints: fc.uniqueArray(
      fc.record({
        pod: fc.constantFrom(...POD_NAMES),
        podNamespace: namespaceArb,
        ready: fc.constantFrom(true, true, false, undefined),
      }),
      { selector: (e) => `${e.podNamespace}/${e.pod}`, maxLength: 3 },
    ),
    podless: fc.boolean(),
  })
  .map((s): Put => {
    const slice: IEndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        namespace: s.namespace,
        name: `${s.service}-${s.half}`,
        labels: { "kubernetes.io/service-name": s.service },
      },
      addressType: "IPv4",
      ports: s.ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: "TCP" })),
      endpoints: [
        ...s.endpoints.map((e) => ({
          addresses: [`10.${NAMESPACES.indexOf(e.podNamespace) + 1}.0.${POD_NAMES.indexOf(e.pod) + 1}`],
          ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
          targetRef: { kind: "Pod", namespace: e.podNamespace, name: e.pod },
        })),
        ...(s.podless ? [{ addresses: ["192.168.7.7"] }] : []),
      ],
    };
    return { key: `EndpointSlice/${s.namespace}/${s.service}-${s.half}`, object: slice };
  });

const policyMetadata = (namespace: string, name: string) =>
  fc.record({
    namespace: fc.constant(namespace),
    name: fc.constant(name),
    generation,
    creationTimestamp: created,
  });

const trafficPolicyArb = fc
  .tuple(namespaceArb, fc.constantFrom("tp-0", "tp-1", "tp-2"))
  .chain(([namespace, name]) =>
    fc.record({
      apiVersion: fc.constant("skiff.dev/v1alpha1"),
      kind: fc.constant("TrafficPolicy"),
      metadata: policyMetadata(namespace, name),
      spec: trafficPolicySpec(SERVICE_NAMES, POOLS),
    }),
  )
  .map((object): Put => ({
    key: `TrafficPolicy/${object.metadata.namespace}/${object.metadata.name}`,
    object,
  }));

const peerAuthenticationArb = fc
  .tuple(namespaceArb, fc.constantFrom("pa-0", "pa-1"))
  .chain(([namespace, name]) =>
    fc.record({
      apiVersion: fc.constant("skiff.dev/v1alpha1"),
      kind: fc.constant("PeerAuthentication"),
      metadata: policyMetadata(namespace, name),
      spec: peerAuthenticationSpec(POOLS),
    }),
  )
  .map((object): Put => ({
    key: `PeerAuthentication/${object.metadata.namespace}/${object.metadata.name}`,
    object,
  }));

const authorizationPolicyArb = fc
  .tuple(namespaceArb, fc.constantFrom("ap-0", "ap-1"))
  .chain(([namespace, name]) =>
    fc.record({
      apiVersion: fc.constant("skiff.dev/v1alpha1"),
      kind: fc.constant("AuthorizationPolicy"),
      metadata: policyMetadata(namespace, name),
      spec: authorizationPolicySpec(POOLS),
    }),
  )
  .map((object): Put => ({
    key: `AuthorizationPolicy/${object.metadata.namespace}/${object.metadata.name}`,
    object,
  }));

const meshArb = fc
  .record({
    mtlsMode: fc.constantFrom(undefined, "PERMISSIVE", "STRICT", "DISABLE"),
    trustDomain: fc.constantFrom("cluster.local", "example.org"),
    accessLog: fc.boolean(),
    tracing: fc.boolean(),
  })
  .map((m): Put => {
    const mesh = {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default", generation: 1 },
      spec: {
        trustDomain: m.trustDomain,
        rootNamespace: "ops",
        injection: { namespaceSelector: { matchLabels: { [INJECTION_LABEL]: "enabled" } } },
        ...(m.mtlsMode ? { defaults: { mtlsMode: m.mtlsMode } } : {}),
        observability: {
          accessLog: { enabled: m.accessLog },
          ...(m.tracing ? { tracing: { otlpEndpoint: "otel.ops:4317", samplingPercent: 10 } } : {}),
        },
      },
    } as Mesh;
    return { key: "Mesh//default", object: mesh };
  });

const namespaceObjectArb = fc
  .record({ name: namespaceArb, meshed: fc.boolean() })
  .map(({ name, meshed }): Put => ({
    key: `Namespace//${name}`,
    object: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: meshed ? { [INJECTION_LABEL]: "enabled" } : {} },
    } satisfies INamespace,
  }));

const putArb = fc.oneof(
  { weight: 3, arbitrary: serviceArb },
  { weight: 4, arbitrary: sliceArb },
  { weight: 4, arbitrary: podArb },
  { weight: 3, arbitrary: trafficPolicyArb },
  { weight: 2, arbitrary: peerAuthenticationArb },
  { weight: 2, arbitrary: authorizationPolicyArb },
  { weight: 1, arbitrary: meshArb },
  { weight: 1, arbitrary: namespaceObjectArb },
);

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  { weight: 4, arbitrary: putArb.map((put) => ({ put })) },
  // A delete of whatever a put of that kind would have written.
  { weight: 1, arbitrary: putArb.map((put) => ({ delete: put.key })) },
);

/**
 * Applies the changes one by one, compiling, translating and publishing
 * after each with one CompileCache, TranslateMemo and MeshSnapshots, and
 * checks each result, and what each kind of proxy is served, against a
 * compile, translate and publish from scratch.
 */
function replay(changes: readonly Change[]): void {
  const objects = new Map<string, object>();
  const cache = new CompileCache();
  const memo = new TranslateMemo();
  const snapshots = new MeshSnapshots();
  for (const [step, change] of changes.entries()) {
    if ("put" in change) objects.set(change.put.key, change.put.object);
    else objects.delete(change.delete);
    const state = stateOf(objects);
    const incremental = compile(state, cache);
    const resources = translate(incremental.model, memo);
    snapshots.encode(resources);
    snapshots.publish(resources);
    const fresh = compile(state);
    const freshResources = translate(fresh.model);
    const freshSnapshots = new MeshSnapshots();
    freshSnapshots.publish(freshResources);
    const at = `after change ${step}: ${JSON.stringify(change).slice(0, 300)}`;
    assert.equal(canonical(incremental, resources), canonical(fresh, freshResources), at);
    for (const node of nodesOf(state))
      assert.deepEqual(served(snapshots, node), served(freshSnapshots, node), `${at}, ${node.id}`);
  }
}

/** A sidecar and a proxyless client that name no Pod, and a sidecar for each Pod. */
function nodesOf(state: ClusterState): ProxyNode[] {
  const node = (id: string, metadata: ProxyNode["metadata"] = {}): ProxyNode => ({
    id,
    cluster: "",
    metadata,
  });
  return [
    node("sidecar~10.9.9.9~client.elsewhere~elsewhere.svc.cluster.local"),
    node("proxyless-client", { GENERATOR: "grpc" }),
    ...state.pods.map((p) =>
      node(
        `sidecar~${p.status?.podIP}~${p.metadata?.name}.${p.metadata?.namespace}~${p.metadata?.namespace}.svc.cluster.local`,
      ),
    ),
  ];
}

/** What a proxy is served: each type's resource names and versions. */
function served(snapshots: MeshSnapshots, node: ProxyNode): [string, [string, string][]][] {
  return [...snapshots.snapshotFor(node).resources].map(([type, byName]) => [
    type,
    [...byName].map(([name, r]) => [name, r.version]),
  ]);
}

/** The state of these objects, as the pipeline reads it from its informers (every object the test puts has its kind). */
const stateOf = (objects: ReadonlyMap<string, object>): ClusterState =>
  clusterStateOf([...objects.values()] as { kind: string }[]);

/** A compile result and its translation, as comparable JSON (Maps as their entries, in order). */
function canonical(result: ReturnType<typeof compile>, resources: ReturnType<typeof translate>): string {
  return JSON.stringify({ result, resources }, (_key, value: unknown) =>
    value instanceof Map ? [...(value as Map<unknown, unknown>)] : value instanceof Set ? [...value] : value,
  );
}

describe("the incremental pipeline (CompileCache, TranslateMemo, MeshSnapshots)", () => {
  it("builds what compile and translate build from scratch, after every change of a random sequence", () => {
    // Mostly with a Mesh and meshed namespaces, so that there are workloads and mTLS to get wrong.
    const start = fc
      .tuple(meshArb, namespaceObjectArb, namespaceObjectArb)
      .map((puts) => puts.map((put): Change => ({ put })));
    const sequence = fc
      .tuple(
        fc.oneof({ weight: 4, arbitrary: start }, { weight: 1, arbitrary: fc.constant<Change[]>([]) }),
        fc.array(changeArb, { maxLength: 30 }),
      )
      .map(([first, rest]) => [...first, ...rest]);
    fc.assert(fc.property(sequence, replay), { numRuns: 300, seed: 18_0001 });
  });

  it("translates a workload's inbound side again when only a Service that lists it changes", () => {
    // The workload's model stays the same object (its ports and modes come from the slice), so only the
    // Services that list it tell TranslateMemo that its served ports changed protocol.
    const puts: Put[] = [
      fc.sample(meshArb, { seed: 7, numRuns: 1 })[0]!,
      {
        key: "Namespace//shop",
        object: {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "shop", labels: { [INJECTION_LABEL]: "enabled" } },
        },
      },
      {
        key: "Pod/shop/p0",
        object: {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            namespace: "shop",
            name: "p0",
            labels: { app: "api" },
            annotations: { [STATUS_ANNOTATION]: "injected" },
          },
          spec: { containers: [{ name: "app", image: "api" }] },
          status: { phase: "Running", podIP: "10.1.0.1" },
        } satisfies IPod,
      },
      {
        key: "EndpointSlice/shop/api-a",
        object: {
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { namespace: "shop", name: "api-a", labels: { "kubernetes.io/service-name": "api" } },
          addressType: "IPv4",
          ports: SERVICE_PORTS.map((p) => ({ name: p.name, port: p.targetPort, protocol: "TCP" })),
          endpoints: [{ addresses: ["10.1.0.1"], targetRef: { kind: "Pod", namespace: "shop", name: "p0" } }],
        } satisfies IEndpointSlice,
      },
    ];
    const api = (ports: readonly (typeof SERVICE_PORTS)[number][]) =>
      servicePut({ namespace: "shop", name: "api", ports, headless: false });
    replay(
      [...puts, api(SERVICE_PORTS), api([SERVICE_PORTS[2]!]), api(SERVICE_PORTS)].map((put): Change => ({
        put,
      })),
    );
  });

  it("gives an unchanged Service's model and resources the same objects, and re-translates a changed one", () => {
    const objects = new Map<string, object>();
    const put = (p: Put) => objects.set(p.key, p.object);
    const sample = <T>(arb: fc.Arbitrary<T>, seed: number) => fc.sample(arb, { seed, numRuns: 1 })[0]!;
    for (const name of SERVICE_NAMES) {
      put(
        sample(
          serviceArb.filter((s) => s.key === `Service/shop/${name}`),
          1,
        ),
      );
      put(
        sample(
          sliceArb.filter((s) => s.key === `EndpointSlice/shop/${name}-a`),
          2,
        ),
      );
      put(
        sample(
          podArb.filter((p) => p.key === `Pod/shop/p${SERVICE_NAMES.indexOf(name)}`),
          3,
        ),
      );
    }
    const cache = new CompileCache();
    const memo = new TranslateMemo();
    const first = compile(stateOf(objects), cache);
    const before = translate(first.model, memo);

    // A new object for one slice, as a watch event gives: only its Service changes.
    const changed = sample(
      sliceArb.filter((s) => s.key === "EndpointSlice/shop/api-a"),
      4,
    );
    put(changed);
    const second = compile(stateOf(objects), cache);
    const after = translate(second.model, memo);

    const byName = (result: typeof first) => new Map(result.model.services.map((s) => [s.name, s]));
    for (const name of ["web", "db"])
      if (byName(first).has(name)) assert.equal(byName(second).get(name), byName(first).get(name), name);
    // The outbound resources of the other Services are the very objects of the first run; api's are new.
    const reused = new Set(after.shared);
    const [others, api] = [false, true].map((isApi) =>
      before.shared.filter((r) => /\bapi\.shop\./.test(r.name) === isApi),
    );
    assert.ok(others!.length > 0 && api!.length > 0);
    for (const resource of others!) assert.ok(reused.has(resource), `${resource.name} was translated again`);
    assert.ok(
      api!.some((r) => !reused.has(r)),
      "the changed Service was not translated again",
    );
    assert.equal(canonical(second, after), canonical(compile(stateOf(objects)), translate(second.model)));
  });
});
