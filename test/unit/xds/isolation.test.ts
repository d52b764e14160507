import assert from "node:assert/strict";
import { join } from "node:path";
import type { TrafficPolicy } from "../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile, type CompileResult } from "../../../src/compile/compile.js";
import { createRootCa } from "../../../src/pki/root.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import { buildIsolating, rejectionKey, withRejected } from "../../../src/xds/isolation.js";
import { ROUTE_TYPE } from "../../../src/xds/translate/resource.js";
import { identitySecrets } from "../../../src/xds/translate/identity-secrets.js";
import { translate, type MeshResources } from "../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

/**
 * A policy the API server should have refused (here a timeout past
 * protobuf's Duration range, as stored before the schema bounded it) must
 * cost only itself: the pipeline leaves it out, reports it, and publishes
 * everything else.
 */
const DATA = join(import.meta.dirname, "..", "..", "testdata", "translate");

const poisoned: TrafficPolicy = {
  apiVersion: "skiff.dev/v1alpha1",
  kind: "TrafficPolicy",
  metadata: {
    name: "ratings",
    namespace: "bookinfo",
    generation: 3,
    creationTimestamp: "2026-01-01T00:00:00Z",
  },
  spec: { targetRef: { name: "ratings" }, http: [{ route: [{}], timeout: "100000000h" }] },
} as TrafficPolicy;

/** base.yaml and the timeout case (a good policy on reviews), plus a Service ratings with the poisoned policy. */
function state(): ClusterState {
  const base = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "timeout.yaml"));
  return {
    ...base,
    services: [
      ...base.services,
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "ratings", namespace: "bookinfo" },
        spec: { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 9080 }] },
      },
    ],
    trafficPolicies: [...base.trafficPolicies, poisoned],
  };
}

function pipelineBuild(snapshots: MeshSnapshots) {
  return (s: ClusterState): { result: CompileResult; resources: MeshResources } => {
    const result = compile(s);
    const resources = translate(result.model);
    snapshots.encode(resources);
    return { result, resources };
  };
}

describe("isolating a policy that cannot be turned into proxy configuration", () => {
  it("fails to publish the whole mesh with the poisoned policy in it (what froze xDS)", () => {
    assert.throws(
      () => new MeshSnapshots().publish(translate(compile(state()).model)),
      /cannot encode envoy\.config\.route\.v3\.RouteConfiguration ratings\.bookinfo\.svc\.cluster\.local:9080: .*Duration/,
    );
  });

  it("leaves out the poisoned policy only: its Service has no policy, the good one is applied", () => {
    const snapshots = new MeshSnapshots();
    const { built, rejected } = buildIsolating(state(), pipelineBuild(snapshots));
    assert.deepEqual(
      rejected.map((r) => [r.kind, r.source.name, r.source.generation]),
      [["TrafficPolicy", "ratings", 3]],
    );
    assert.match(rejected[0]!.message, /RouteConfiguration ratings\.bookinfo\.svc\.cluster\.local:9080/);
    const service = (name: string) => built.result.model.services.find((s) => s.name === name)!;
    assert.equal(service("ratings").traffic, undefined, "the Service falls back to no policy");
    assert.equal(service("reviews").traffic?.source.name, "reviews", "the good policy is applied");

    snapshots.publish(built.resources);
    const routes = snapshots
      .snapshotFor({ id: "grpc~client", cluster: "", metadata: { GENERATOR: "grpc" } })
      .resources.get(ROUTE_TYPE)!;
    assert.ok(routes.has("ratings.bookinfo.svc.cluster.local:9080"), "ratings is still routed");
    assert.ok(routes.has("reviews.bookinfo.svc.cluster.local:9080"));
  });

  it("reports the left-out policy Accepted=False/Invalid with the reason, and the others as compile found them", () => {
    const { built, rejected } = buildIsolating(state(), pipelineBuild(new MeshSnapshots()));
    const result = withRejected(built.result, rejected);
    assert.deepEqual(
      result.findings.map((f) => f.source.name),
      ["ratings", "reviews"],
    );
    const [accepted, ...others] = result.findings[0]!.findings;
    assert.deepEqual(others, []);
    assert.deepEqual([accepted!.type, accepted!.status, accepted!.reason], ["Accepted", "False", "Invalid"]);
    assert.match(
      accepted!.message,
      /not applied: cannot encode .* google\.protobuf\.Duration .*"360000000000s"/,
    );
    const reviews = result.findings[1]!.findings.find((f) => f.type === "Accepted")!;
    assert.equal(reviews.status, "True");
  });

  it("finds every bad policy among many, and a later run tries the known-bad ones last", () => {
    const policies = Array.from({ length: 40 }, (_, i) => ({
      metadata: { namespace: "ns", name: `p${String(i).padStart(2, "0")}`, generation: 1 },
    })) as unknown as TrafficPolicy[];
    const bad = new Set(["p03", "p17", "p18", "p39"]);
    let builds = 0;
    const build = (s: ClusterState) => {
      builds += 1;
      const found = s.trafficPolicies.find((p) => bad.has(p.metadata.name!));
      if (found) throw new Error(`${found.metadata.name} is bad`);
      return s.trafficPolicies.map((p) => p.metadata.name);
    };
    const first = buildIsolating({ ...state(), trafficPolicies: policies }, build);
    assert.deepEqual(
      first.rejected.map((r) => [r.source.name, r.message]),
      [...bad].map((name) => [name, `${name} is bad`]),
    );
    assert.deepEqual(
      first.built,
      policies.map((p) => p.metadata.name).filter((n) => !bad.has(n!)),
    );
    const bisecting = builds;
    assert.ok(bisecting <= 2 + 2 * bad.size * Math.ceil(Math.log2(policies.length)), `${bisecting} builds`);

    builds = 0;
    const suspects = new Set(first.rejected.map((r) => rejectionKey(r.kind, r.source)));
    const second = buildIsolating({ ...state(), trafficPolicies: policies }, build, suspects);
    assert.deepEqual(second, first);
    assert.equal(builds, 2 + bad.size, "the whole state, the state without the suspects, each suspect");
  });

  it("tries a policy again once it changes: a rejection holds for one generation", () => {
    const policy = { metadata: { namespace: "ns", name: "p", generation: 2 } } as unknown as TrafficPolicy;
    const suspects = new Set([rejectionKey("TrafficPolicy", { namespace: "ns", name: "p", generation: 1 })]);
    const result = buildIsolating(
      { ...state(), trafficPolicies: [policy] },
      (s) => s.trafficPolicies.length,
      suspects,
    );
    assert.deepEqual(result, { built: 1, rejected: [] });
  });

  it("throws when the state fails to build without any policy: that fault is not a policy's", () => {
    assert.throws(
      () =>
        buildIsolating(state(), () => {
          throw new Error("a bug in translate");
        }),
      /a bug in translate/,
    );
  });

  it("leaves the published generation untouched when a translation cannot be encoded, and certificates still publish", async () => {
    const snapshots = new MeshSnapshots();
    const good = translate(compile(clusterStateFromFiles(join(DATA, "base.yaml"))).model);
    const generation = snapshots.publish(good);
    const sidecar = {
      id: "sidecar~10.1.0.1~reviews-v1.bookinfo~bookinfo.svc.cluster.local",
      cluster: "",
      metadata: {},
    };
    const before = snapshots.snapshotFor(sidecar);
    assert.throws(() => snapshots.publish(translate(compile(state()).model)), /cannot encode/);
    assert.equal(snapshots.currentGeneration, generation);
    assert.equal(snapshots.snapshotFor(sidecar), before, "proxies keep the previous generation");

    const ca = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
    const identity = { namespace: "bookinfo", serviceAccount: "reviews" };
    const next = snapshots.publishSecrets(
      identity,
      identitySecrets({
        trustBundlePem: ca.certPem,
        spiffeId: "spiffe://cluster.local/ns/bookinfo/sa/reviews",
        signerPem: ca.certPem,
      }),
    );
    assert.equal(next, generation + 1, "an identity's Secrets are published on the last good translation");
  });
});
