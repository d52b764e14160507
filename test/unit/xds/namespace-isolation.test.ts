import assert from "node:assert/strict";
import type { JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { INamespace, IPod, IService } from "kubernetes-models/v1";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { compile } from "../../../src/compile/compile.js";
import { CLUSTER_DOMAIN, type ClusterState } from "../../../src/compile/state.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import type { ProxyNode } from "../../../src/xds/cache/snapshot.js";
import { CERTIFICATE_PROVIDER_METADATA } from "../../../src/mesh/proxyless.js";
import { proxyIdentity } from "../../../src/xds/node.js";
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
import { policiesIn, type NamespacePolicies, type PolicyPools } from "../../support/arbitrary-policies.js";
import { INJECTION_LABEL, PROXYLESS_ANNOTATION, STATUS_ANNOTATION } from "../../../src/mesh/annotations.js";

/**
 * Issue 14, third invariant: no object in one namespace changes what proxies
 * in another namespace receive, except through the documented mesh-wide
 * scopes. Searched with fast-check: a random cluster with two ordinary
 * namespaces, A and B, and the Mesh's root namespace, each with Services,
 * EndpointSlices and Pods (sidecar and proxyless), B and the root namespace
 * with policies of their own; then random TrafficPolicies,
 * PeerAuthentications and AuthorizationPolicies in A, all of them objects
 * the API server admits. Every proxy outside A (each Pod of B and of the root
 * namespace, as the sidecar or proxyless gRPC application it runs, and
 * clients that name no Pod) must receive identical resources with and
 * without A's objects, except for what A's objects may change by the
 * documented scopes:
 *
 * - AuthorizationPolicy in A: nothing. It selects workloads in its own
 *   namespace only; only the root namespace is mesh-wide (docs/API.md,
 *   "optional; root namespace = mesh-wide"; Istio: "the policy applies to
 *   workloads in the same namespace", and the root namespace's to all).
 * - PeerAuthentication in A: it decides what A's workloads accept, and
 *   clients follow it ("a client uses mTLS toward any workload that accepts
 *   it", docs/API.md: auto mTLS). So a caller's outbound clusters and their
 *   endpoints (CDS and EDS: transport socket matches, tlsMode metadata, the
 *   proxyless mTLS variant) may change for Services whose endpoints are A's
 *   Pods, whatever the Service's namespace. Nothing else: no route, no
 *   listener, and never the caller's own inbound side. (Istio: the namespace
 *   level of PeerAuthentication covers the namespace's workloads only, and
 *   auto mTLS makes clients follow it.)
 * - TrafficPolicy in A: it targets "a Service in this namespace" and shapes
 *   every caller's traffic to it, as an Istio VirtualService and
 *   DestinationRule do with the default exportTo "*". So every outbound
 *   resource of A's Services may change (clusters, subset clusters appearing
 *   or going, their endpoints, route configurations, the sidecar's outbound
 *   listener on the ClusterIP, proxyless listeners), and nothing else. In
 *   particular a policy in A naming a Service that exists only in B resolves
 *   to nothing (BackendNotFound) and changes nothing for anyone. Its
 *   rateLimit acts "on the target's inbound side": on A's workloads, never on
 *   a proxy outside A.
 *
 * Each proxy's resources are composed as MeshSnapshots composes its view and
 * compared as JSON; a test below checks that they encode to exactly the
 * bytes the ADS server sends. The search runs the four cases (each kind of
 * A's objects alone, and all together) against one cluster, and proves its
 * own power: it must fail on mutants that mis-scope A's objects.
 *
 * `make test-unit` runs a seeded budget; `make search` (SKIFF_SEARCH_RUNS,
 * SKIFF_SEARCH_SEED) runs a longer search with a fresh seed.
 */

const LONG_RUNS = Number(process.env["SKIFF_SEARCH_RUNS"] ?? 0);
const RUNS = LONG_RUNS > 0 ? LONG_RUNS : 60;
const SEED =
  process.env["SKIFF_SEARCH_SEED"] !== undefined
    ? Number(process.env["SKIFF_SEARCH_SEED"])
    : LONG_RUNS > 0
      ? Date.now() % 2 ** 31
      : 14_0003;

// --- The generated cluster -------------------------------------------------------

const B = "billing";
/** A sorts before or after B: where several Services meet, compile's order is by namespace. */
const A_NAMES = ["alpha", "omega"];
const ROOT_NAMES = ["skiff-system", "mesh-root"];
/** Few names, so that Services of one name exist in several namespaces, and some only in B. */
const SERVICE_NAMES = ["api", "web", "db", "ledger"];
/** Service ports: 80 and 8080 share target port 8080, so one container port serves two Service ports. */
const SERVICE_PORTS = [
  { name: "http", port: 8080, targetPort: 8080 },
  { name: "http-web", port: 80, targetPort: 8080 },
  { name: "grpc", port: 9090, targetPort: 9090 },
  { name: "tcp-db", port: 5432, targetPort: 5432 },
];
const TARGET_PORTS = [8080, 9090, 5432];

interface Namespaces {
  readonly a: string;
  readonly b: string;
  readonly root: string;
}

interface World {
  readonly namespaces: Namespaces;
  /** Everything but A's policies: every namespace's Services, endpoints and Pods, B's and the root's policies. */
  readonly state: ClusterState;
  /** The objects under test. */
  readonly policiesOfA: NamespacePolicies;
}

/** A Pod behind a Service: its version label, ServiceAccount, data plane and readiness. */
const podArb = fc.record({
  version: fc.constantFrom("v1", "v2"),
  ownAccount: fc.boolean(),
  proxyless: fc.oneof(
    { weight: 3, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  ready: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
});

const serviceArb = fc.record({
  name: fc.constantFrom(...SERVICE_NAMES),
  ports: fc.subarray(SERVICE_PORTS, { minLength: 1, maxLength: 2 }),
  headless: fc.oneof(
    { weight: 7, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  pods: fc.array(podArb, { minLength: 1, maxLength: 2 }),
});

const servicesArb = fc.uniqueArray(serviceArb, { selector: (s) => s.name, minLength: 1, maxLength: 3 });
type ServiceShape = typeof serviceArb extends fc.Arbitrary<infer T> ? T : never;

const rarely = fc.oneof(
  { weight: 3, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);
const mostly = fc.oneof(
  { weight: 6, arbitrary: fc.constant(true) },
  { weight: 1, arbitrary: fc.constant(false) },
);

const shapeArb = fc.record({
  a: fc.constantFrom(...A_NAMES),
  root: fc.constantFrom(...ROOT_NAMES),
  meshed: fc.record({ a: mostly, b: mostly, root: mostly }),
  services: fc.record({ a: servicesArb, b: servicesArb, root: servicesArb }),
  /**
   * EndpointSlices whose endpoint is a Pod of the other namespace: what a
   * hand-written slice of a selectorless Service may hold. The API server
   * admits them, and compile follows targetRef.namespace, as Istio does.
   */
  crossNamespace: fc.record({ aServesPodOfB: rarely, bServesPodOfA: rarely }),
  defaultMtls: fc.constantFrom(undefined, "PERMISSIVE" as const, "STRICT" as const, "DISABLE" as const),
});
type Shape = typeof shapeArb extends fc.Arbitrary<infer T> ? T : never;

/** The cluster objects of a shape (no policies yet), with unique addresses. */
function objectsOf(shape: Shape): ClusterState {
  const namespaces: Namespaces = { a: shape.a, b: B, root: shape.root };
  const keys = ["a", "b", "root"] as const;
  const services: IService[] = [];
  const pods: IPod[] = [];
  const slices: IEndpointSlice[] = [];
  const endpointOf = (pod: IPod, ready: boolean) => ({
    addresses: [pod.status!.podIP!],
    conditions: { ready },
    targetRef: { kind: "Pod", name: pod.metadata!.name!, namespace: pod.metadata!.namespace! },
  });
  keys.forEach((key, n) => {
    const namespace = namespaces[key];
    shape.services[key].forEach((service: ServiceShape, s) => {
      const ports = service.ports;
      services.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: service.name, namespace },
        spec: {
          clusterIP: service.headless ? "None" : `10.96.${n}.${s + 1}`,
          selector: { app: service.name },
          ports: ports.map((p) => ({ name: p.name, port: p.port, targetPort: p.targetPort })),
        },
      });
      const own = service.pods.map((p, i): [IPod, boolean] => [
        {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: `${service.name}-${i}`,
            namespace,
            labels: { app: service.name, version: p.version },
            // Injected, as a sidecar Pod of a meshed namespace is: only those are sent mTLS.
            annotations: p.proxyless
              ? { [PROXYLESS_ANNOTATION]: "true" }
              : { [STATUS_ANNOTATION]: "injected" },
          },
          spec: {
            serviceAccountName: p.ownAccount ? service.name : "default",
            containers: [{ name: "app", image: service.name }],
          },
          status: { phase: "Running", podIP: `10.${n + 1}.${s}.${i + 1}` },
        },
        p.ready,
      ]);
      pods.push(...own.map(([pod]) => pod));
      slices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${service.name}-slice`,
          namespace,
          labels: { "kubernetes.io/service-name": service.name },
        },
        addressType: "IPv4",
        ports: ports.map((p) => ({ name: p.name, port: p.targetPort, protocol: "TCP" })),
        endpoints: own.map(([pod, ready]) => endpointOf(pod, ready)),
      });
    });
  });
  const firstPodIn = (namespace: string) => pods.find((p) => p.metadata?.namespace === namespace)!;
  const firstSliceIn = (namespace: string) => slices.find((s) => s.metadata?.namespace === namespace)!;
  if (shape.crossNamespace.aServesPodOfB)
    firstSliceIn(namespaces.a).endpoints.push(endpointOf(firstPodIn(namespaces.b), true));
  if (shape.crossNamespace.bServesPodOfA)
    firstSliceIn(namespaces.b).endpoints.push(endpointOf(firstPodIn(namespaces.a), true));

  const mesh: Mesh = {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default", generation: 1 },
    spec: {
      trustDomain: "cluster.local",
      rootNamespace: namespaces.root,
      injection: { namespaceSelector: { matchLabels: { [INJECTION_LABEL]: "enabled" } } },
      ...(shape.defaultMtls ? { defaults: { mtlsMode: shape.defaultMtls } } : {}),
    },
  } as Mesh;
  const namespaceObjects: INamespace[] = keys.map((key) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: namespaces[key],
      labels: shape.meshed[key] ? { [INJECTION_LABEL]: "enabled" } : ({} as Record<string, string>),
    },
  }));
  return {
    mesh,
    namespaces: namespaceObjects,
    services,
    endpointSlices: slices,
    pods,
    trafficPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
  };
}

/** Names, labels and ports the policies may use: those of the generated objects. */
function poolsOf(state: ClusterState, namespaces: Namespaces): PolicyPools {
  const names = [...new Set(state.services.map((s) => s.metadata!.name!))];
  return {
    serviceNames: names,
    labelSets: [
      ...names.map((app) => ({ app })),
      { version: "v1" },
      { version: "v2" },
      { app: names[0]!, version: "v2" },
    ],
    ports: TARGET_PORTS,
    namespaces: [namespaces.a, namespaces.b, namespaces.root],
    serviceAccounts: [...names, "default"],
  };
}

const servicesIn = (state: ClusterState, namespace: string) =>
  state.services.filter((s) => s.metadata?.namespace === namespace).map((s) => s.metadata!.name!);

/**
 * A world: the cluster, B's and the root namespace's own policies, and A's
 * policies. `targetsOfA` says which Service names A's TrafficPolicies may
 * target; by default every name (in A, only in B, or nowhere).
 */
function worldArb(
  options: {
    targetsOfA?: (state: ClusterState, namespaces: Namespaces) => string[];
    maxOfA?: Parameters<typeof policiesIn>[3];
  } = {},
): fc.Arbitrary<World> {
  return shapeArb.chain((shape) => {
    const namespaces: Namespaces = { a: shape.a, b: B, root: shape.root };
    const objects = objectsOf(shape);
    const pools = poolsOf(objects, namespaces);
    const targetsOfA = options.targetsOfA?.(objects, namespaces) ?? SERVICE_NAMES;
    return fc
      .record({
        b: policiesIn(namespaces.b, servicesIn(objects, namespaces.b), pools, {
          trafficPolicies: 2,
          peerAuthentications: 2,
          authorizationPolicies: 2,
        }),
        root: policiesIn(namespaces.root, servicesIn(objects, namespaces.root), pools, {
          trafficPolicies: 1,
          peerAuthentications: 1,
          authorizationPolicies: 1,
        }),
        a: policiesIn(
          namespaces.a,
          targetsOfA,
          pools,
          options.maxOfA ?? { trafficPolicies: 3, peerAuthentications: 2, authorizationPolicies: 2 },
        ),
      })
      .map(({ a, b, root }): World => ({
        namespaces,
        state: withPolicies(withPolicies(objects, b), root),
        policiesOfA: a,
      }));
  });
}

function withPolicies(state: ClusterState, policies: Partial<NamespacePolicies>): ClusterState {
  return {
    ...state,
    trafficPolicies: [...state.trafficPolicies, ...(policies.trafficPolicies ?? [])],
    peerAuthentications: [...state.peerAuthentications, ...(policies.peerAuthentications ?? [])],
    authorizationPolicies: [...state.authorizationPolicies, ...(policies.authorizationPolicies ?? [])],
  };
}

// --- What proxies receive ------------------------------------------------------

interface Observer {
  readonly label: string;
  readonly node: ProxyNode;
}

const SIDECAR: ProxyNode["metadata"] = {};
const PROXYLESS: ProxyNode["metadata"] = { GENERATOR: "grpc" };
const PROXYLESS_WITH_CERTIFICATES: ProxyNode["metadata"] = {
  GENERATOR: "grpc",
  [CERTIFICATE_PROVIDER_METADATA]: "default",
};

/**
 * Proxies as the ADS server tells them apart: each Pod of `namespaces` as
 * what runs there (an Envoy sidecar, or a proxyless gRPC application with
 * the agent's bootstrap, which has certificates), and clients that name no
 * Pod (a proxyless client that only calls others) of each kind.
 */
function observersIn(state: ClusterState, namespaces: readonly string[]): Observer[] {
  const nodeId = (ip: string, pod: string, namespace: string) =>
    `sidecar~${ip}~${pod}.${namespace}~${namespace}.svc.${CLUSTER_DOMAIN}`;
  const pods = state.pods
    .filter((p) => namespaces.includes(p.metadata!.namespace!))
    .map((p): Observer => {
      const proxyless = p.metadata?.annotations?.[PROXYLESS_ANNOTATION] === "true";
      return {
        label: `${p.metadata!.namespace}/${p.metadata!.name} (${proxyless ? "proxyless" : "sidecar"})`,
        node: {
          id: nodeId(p.status!.podIP!, p.metadata!.name!, p.metadata!.namespace!),
          cluster: "",
          metadata: proxyless ? PROXYLESS_WITH_CERTIFICATES : SIDECAR,
        },
      };
    });
  const podless = (
    [
      ["sidecar", SIDECAR],
      ["proxyless client", PROXYLESS],
      ["proxyless client with certificates", PROXYLESS_WITH_CERTIFICATES],
    ] as const
  ).map(([kind, metadata]): Observer => ({
    label: `a ${kind} naming no Pod`,
    node: { id: nodeId("10.255.0.1", "caller", namespaces[0]!), cluster: "", metadata },
  }));
  return [...pods, ...podless];
}

/** What one proxy receives: each resource's JSON, by type URL and name. */
type View = ReadonlyMap<string, { readonly typeUrl: string; readonly name: string; readonly json: string }>;

/**
 * What each observer receives from a translation, composed as
 * MeshSnapshots.snapshotFor composes it (shared, then its kind's group, then
 * its workload's inbound side; a later resource replaces an earlier one of
 * the same name), but compared as JSON: encoding to protobuf is a
 * deterministic function of the JSON and costs most of the time. A test
 * below checks that these views are MeshSnapshots' views.
 */
function viewsOf(resources: MeshResources, observers: readonly Observer[]): View[] {
  const json = new Map<EnvoyResource, string>();
  const text = (r: EnvoyResource) => json.get(r) ?? json.set(r, JSON.stringify(r.json)).get(r)!;
  return observers.map(({ node }) => {
    const identity = proxyIdentity(node);
    const own =
      identity.kind === "proxyless"
        ? [...resources.proxyless, ...(identity.certificates ? resources.proxylessMtls : [])]
        : resources.sidecar;
    const inbound = identity.workload ? (resources.inbound.get(identity.workload) ?? []) : [];
    const view = new Map<string, { typeUrl: string; name: string; json: string }>();
    for (const r of [...resources.shared, ...own, ...inbound])
      view.set(`${r.typeUrl} ${r.name}`, { typeUrl: r.typeUrl, name: r.name, json: text(r) });
    return view;
  });
}

/** Every resource of a translation, as text. */
const everything = (resources: MeshResources) =>
  JSON.stringify([
    resources.shared,
    resources.proxyless,
    resources.proxylessMtls,
    resources.sidecar,
    [...resources.inbound],
  ]);

const receive = (state: ClusterState, observers: readonly Observer[]) =>
  viewsOf(translate(compile(state).model), observers);

interface Difference {
  readonly typeUrl: string;
  readonly name: string;
  readonly change: "added" | "removed" | "changed";
}

/** The resources that differ between two views of one proxy. */
function differences(before: View, after: View): Difference[] {
  const out: Difference[] = [];
  for (const [key, was] of before) {
    const is = after.get(key);
    if (!is) out.push({ typeUrl: was.typeUrl, name: was.name, change: "removed" });
    else if (is.json !== was.json) out.push({ typeUrl: was.typeUrl, name: was.name, change: "changed" });
  }
  for (const [key, is] of after)
    if (!before.has(key)) out.push({ typeUrl: is.typeUrl, name: is.name, change: "added" });
  return out;
}

// --- What A's objects may change -------------------------------------------------

type PolicyKind = "TrafficPolicy" | "PeerAuthentication" | "AuthorizationPolicy";

interface ServiceKey {
  readonly namespace: string;
  readonly name: string;
}

/**
 * The Service an outbound resource belongs to, by Skiff's (Istio's) resource
 * names: clusters and their endpoints `outbound|<port>|<subset>|<hostname>`,
 * route configurations and proxyless listeners `<hostname>:<port>`, sidecar
 * outbound listeners `<ClusterIP>_<port>`. Inbound resources belong to no
 * Service.
 */
function ownerOf(state: ClusterState, typeUrl: string, name: string): ServiceKey | undefined {
  const key = (s: IService): ServiceKey => ({ namespace: s.metadata!.namespace!, name: s.metadata!.name! });
  const byHostname = (hostname: string) => {
    const s = state.services.find(
      (s) => `${s.metadata!.name}.${s.metadata!.namespace}.svc.${CLUSTER_DOMAIN}` === hostname,
    );
    return s && key(s);
  };
  if (typeUrl === CLUSTER_TYPE || typeUrl === ENDPOINT_TYPE) {
    const outbound = /^outbound\|\d+\|[^|]*\|(.+)$/.exec(name);
    return outbound ? byHostname(outbound[1]!) : undefined;
  }
  if (typeUrl === ROUTE_TYPE || typeUrl === LISTENER_TYPE) {
    const hostPort = /^(.+):\d+$/.exec(name);
    const byHost = hostPort ? byHostname(hostPort[1]!) : undefined;
    if (byHost) return byHost;
    const ipPort = typeUrl === LISTENER_TYPE ? /^(.+)_\d+$/.exec(name) : null;
    const s = ipPort ? state.services.find((s) => s.spec?.clusterIP === ipPort[1]) : undefined;
    return s && key(s);
  }
  return undefined;
}

/** Services with an endpoint that is a Pod of `namespace`, in any namespace. */
function servicesFronting(state: ClusterState, namespace: string): ServiceKey[] {
  return state.endpointSlices
    .filter((slice) =>
      slice.endpoints.some((e) => e.targetRef?.kind === "Pod" && e.targetRef.namespace === namespace),
    )
    .map((slice) => ({
      namespace: slice.metadata!.namespace!,
      name: slice.metadata!.labels!["kubernetes.io/service-name"]!,
    }));
}

/**
 * Why A's objects of these kinds may change this resource for a proxy
 * outside A, or undefined when they may not (see the rules at the top).
 */
function allowance(world: World, kinds: readonly PolicyKind[], d: Difference): string | undefined {
  const owner = ownerOf(world.state, d.typeUrl, d.name);
  if (!owner) return undefined;
  if (kinds.includes("TrafficPolicy") && owner.namespace === world.namespaces.a)
    return "an outbound resource of a Service of A, which A's TrafficPolicies shape for every caller";
  const upstream = d.typeUrl === CLUSTER_TYPE || d.typeUrl === ENDPOINT_TYPE;
  if (
    kinds.includes("PeerAuthentication") &&
    upstream &&
    servicesFronting(world.state, world.namespaces.a).some(
      (s) => s.namespace === owner.namespace && s.name === owner.name,
    )
  )
    return "a cluster of a Service with endpoints in A, whose mTLS mode A's PeerAuthentications decide";
  return undefined;
}

// --- The property ----------------------------------------------------------------

/** How A's objects enter the cluster; the mutants below replace it to prove the property can fail. */
type Placement = (world: World, objects: Partial<NamespacePolicies>) => ClusterState;
const asWritten: Placement = (world, objects) => withPolicies(world.state, objects);

const VARIANTS: { label: string; kinds: PolicyKind[] }[] = [
  { label: "A's AuthorizationPolicies", kinds: ["AuthorizationPolicy"] },
  { label: "A's PeerAuthentications", kinds: ["PeerAuthentication"] },
  { label: "A's TrafficPolicies", kinds: ["TrafficPolicy"] },
  { label: "all of A's objects", kinds: ["TrafficPolicy", "PeerAuthentication", "AuthorizationPolicy"] },
];

const OBJECTS_OF_KIND: Record<PolicyKind, keyof NamespacePolicies> = {
  TrafficPolicy: "trafficPolicies",
  PeerAuthentication: "peerAuthentications",
  AuthorizationPolicy: "authorizationPolicies",
};

/** How often A's objects changed something, so that a search that proves nothing fails. */
interface Coverage {
  runs: number;
  /** Runs where a variant changed what some proxy outside A receives (within the allowance). */
  visibleOutside: Record<string, number>;
  /** Runs where a variant changed what A's own proxies receive: the objects took effect. */
  effectiveInA: Record<string, number>;
}

const newCoverage = (): Coverage => ({ runs: 0, visibleOutside: {}, effectiveInA: {} });

/**
 * Throws, naming the proxy, resource and objects, when A's objects change
 * what a proxy outside A receives beyond the allowance.
 */
function checkIsolation(world: World, place: Placement, coverage?: Coverage): void {
  const { a, b, root } = world.namespaces;
  const outside = observersIn(world.state, [b, root]);
  const inA = observersIn(world.state, [a]);
  const observers = [...outside, ...inA];
  const before = receive(world.state, observers);
  if (coverage) coverage.runs += 1;
  for (const variant of VARIANTS) {
    const objects: Partial<NamespacePolicies> = Object.fromEntries(
      variant.kinds.map((k) => [OBJECTS_OF_KIND[k], world.policiesOfA[OBJECTS_OF_KIND[k]]]),
    );
    // With no object of its kinds, a case is the cluster without A's objects.
    if (Object.values(objects).every((list) => list.length === 0)) continue;
    const after = receive(place(world, objects), observers);
    let visible = false;
    outside.forEach((observer, i) => {
      for (const d of differences(before[i]!, after[i]!)) {
        if (allowance(world, variant.kinds, d) === undefined)
          assert.fail(
            `${variant.label} change what ${observer.label} receives: ${messageName(d.typeUrl)} ${d.name} ${d.change}` +
              ` (A is ${a}, B is ${b}, the root namespace is ${root})`,
          );
        visible = true;
      }
    });
    if (coverage) {
      const effective = inA.some(
        (_, i) => differences(before[outside.length + i]!, after[outside.length + i]!).length > 0,
      );
      if (visible) coverage.visibleOutside[variant.label] = (coverage.visibleOutside[variant.label] ?? 0) + 1;
      if (effective) coverage.effectiveInA[variant.label] = (coverage.effectiveInA[variant.label] ?? 0) + 1;
    }
  }
}

/** Copies of A's objects placed in another namespace (renamed so as not to replace that namespace's own). */
function movedTo<T extends { metadata: { name?: string; namespace?: string } }>(
  objects: readonly T[] | undefined,
  namespace: string,
): T[] {
  return (objects ?? []).map((o) => ({
    ...o,
    metadata: { ...o.metadata, namespace, name: `from-a-${o.metadata.name}` },
  }));
}

/** Deliberately broken scoping, each as a compile that mis-scopes A's objects would behave. */
const MUTANTS: { label: string; place: Placement }[] = [
  {
    label: "a TrafficPolicy's target resolved by name in every namespace",
    place: (world, objects) =>
      withPolicies(asWritten(world, objects), {
        trafficPolicies: movedTo(objects.trafficPolicies, world.namespaces.b),
      }),
  },
  {
    label: "A's PeerAuthentications applied mesh-wide",
    place: (world, objects) =>
      withPolicies(asWritten(world, objects), {
        peerAuthentications: movedTo(objects.peerAuthentications, world.namespaces.root),
      }),
  },
  {
    label: "A's AuthorizationPolicies applied mesh-wide",
    place: (world, objects) =>
      withPolicies(asWritten(world, objects), {
        authorizationPolicies: movedTo(objects.authorizationPolicies, world.namespaces.root),
      }),
  },
];

describe("namespace isolation: A's objects change what proxies outside A receive only through documented scopes", function () {
  const parameters = { numRuns: RUNS, seed: SEED };
  before(() => console.log(`      namespace isolation: ${RUNS} runs, seed ${SEED}`));

  it(`holds for random clusters and random policies in A`, function () {
    this.timeout(LONG_RUNS > 0 ? 0 : 60_000);
    const coverage = newCoverage();
    fc.assert(
      fc.property(worldArb(), (world) => checkIsolation(world, asWritten, coverage)),
      parameters,
    );
    console.log(`      coverage: ${JSON.stringify(coverage)}`);
    // A search whose objects never take effect, or never legitimately reach B, proves nothing.
    for (const variant of VARIANTS) {
      const effective = coverage.effectiveInA[variant.label] ?? 0;
      assert.ok(
        effective >= coverage.runs / 10,
        `${variant.label} took effect in A in ${effective} of ${coverage.runs} runs`,
      );
    }
    for (const label of ["A's TrafficPolicies", "A's PeerAuthentications"]) {
      const visible = coverage.visibleOutside[label] ?? 0;
      assert.ok(
        visible >= coverage.runs / 10,
        `${label} changed a Service's resources for callers in ${visible} of ${coverage.runs} runs`,
      );
    }
  });

  it("compares what the ADS server serves: the views are MeshSnapshots' views, byte for byte", function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(worldArb(), (world) => {
        const state = withPolicies(world.state, world.policiesOfA);
        const observers = observersIn(state, Object.values(world.namespaces));
        const resources = translate(compile(state).model);
        const snapshots = new MeshSnapshots();
        snapshots.publish(resources);
        viewsOf(resources, observers).forEach((view, i) => {
          const served = snapshots.snapshotFor(observers[i]!.node).resources;
          const names = [...served].flatMap(([typeUrl, byName]) =>
            [...byName.keys()].map((n) => `${typeUrl} ${n}`),
          );
          assert.deepEqual(new Set(view.keys()), new Set(names), observers[i]!.label);
          for (const { typeUrl, name, json } of view.values()) {
            const bytes = encodeJson(messageName(typeUrl), JSON.parse(json) as JsonValue);
            assert.ok(
              Buffer.compare(bytes, served.get(typeUrl)!.get(name)!.bytes) === 0,
              `${name} for ${observers[i]!.label}`,
            );
          }
        });
      }),
      { numRuns: 10, seed: SEED },
    );
  });

  it("a TrafficPolicy in A naming a Service that only B has changes nothing, for any proxy", function () {
    this.timeout(LONG_RUNS > 0 ? 0 : 60_000);
    const onlyInB = (state: ClusterState, ns: Namespaces) =>
      servicesIn(state, ns.b).filter((name) => !servicesIn(state, ns.a).includes(name));
    const worlds = worldArb({
      targetsOfA: onlyInB,
      maxOfA: { trafficPolicies: 3, peerAuthentications: 0, authorizationPolicies: 0 },
    }).filter((w) => w.policiesOfA.trafficPolicies.length > 0);
    fc.assert(
      fc.property(worlds, (world) => {
        const without = compile(world.state);
        const withThem = compile(withPolicies(world.state, world.policiesOfA));
        const [before, after] = [without, withThem].map((r) => translate(r.model));
        // Compared as text first: deepEqual is slow on every run, and only needed to show a difference.
        if (everything(after!) !== everything(before!)) assert.deepEqual(after, before);
        for (const policy of world.policiesOfA.trafficPolicies) {
          const findings = withThem.findings.find(
            (f) => f.source.namespace === world.namespaces.a && f.source.name === policy.metadata.name,
          )!;
          assert.ok(
            findings.findings.some((f) => f.type === "ResolvedRefs" && f.reason === "BackendNotFound"),
            `${policy.metadata.name} reports its missing target`,
          );
        }
      }),
      parameters,
    );
  });

  for (const mutant of MUTANTS)
    it(`fails when isolation is broken on purpose: ${mutant.label}`, function () {
      this.timeout(60_000);
      const result = fc.check(
        fc.property(worldArb(), (world) => checkIsolation(world, mutant.place)),
        { numRuns: 150, seed: SEED, endOnFailure: true },
      );
      assert.ok(result.failed, `the search did not notice ${mutant.label} in ${result.numRuns} runs`);
      assert.match(String(result.errorInstance), /change what .* receives/);
    });
});
