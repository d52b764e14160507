import assert from "node:assert/strict";
import { join } from "node:path";
import { compile } from "../../../../src/compile/compile.js";
import { ProxyIndex } from "../../../../src/xds/status/proxy-index.js";
import { statusTargets } from "../../../../src/xds/status/targets.js";
import type { ProxyState } from "../../../../src/xds/server/ads-server.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";

const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");
const now = new Date("2026-11-25T12:00:00Z");

type Status = {
  workloads?: number;
  conditions?: { type: string; status: string; reason: string; message: string }[];
  proxies?: unknown;
};

function statuses(proxies: ProxyState[] = [], testCase = "authorization-inbound") {
  const result = compile(
    clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", `${testCase}.yaml`)),
  );
  const out = new Map<string, Status>();
  for (const target of statusTargets(result, () => 1, new ProxyIndex(proxies))) {
    out.set(
      `${target.kind} ${target.source.namespace}/${target.source.name}`,
      target.status(target.programming, [], now) as Status,
    );
  }
  return out;
}

/** A connected sidecar of a bookinfo Pod, running configuration generation `ranGeneration`. */
const sidecar = (pod: string, ranGeneration: number): ProxyState => ({
  streamId: 1,
  protocol: "delta",
  node: { id: `sidecar~10.1.0.1~${pod}.bookinfo~bookinfo.svc.cluster.local`, cluster: "", metadata: {} },
  peer: "",
  connectedAt: now,
  types: [],
  syncedGeneration: ranGeneration,
  ranGeneration,
});

const condition = (status: Status | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);

describe("policy status targets", () => {
  it("counts the workloads each AuthorizationPolicy applies to, mesh-wide policies included", () => {
    const all = statuses();
    assert.equal(all.get("AuthorizationPolicy bookinfo/reviews-viewer")?.workloads, 3);
    assert.equal(
      all.get("AuthorizationPolicy skiff-system/no-admin")?.workloads,
      3,
      "root namespace: every workload",
    );
    assert.equal(
      all.get("AuthorizationPolicy bookinfo/other-app")?.workloads,
      0,
      "selects app=ratings, which has no Pod",
    );
  });

  it("gives an AuthorizationPolicy Accepted and Programmed, and counts only the sidecars of its workloads", () => {
    const all = statuses([sidecar("reviews-v1", 1), sidecar("reviews-v2", 0), sidecar("ratings-v1", 0)]);
    const viewer = all.get("AuthorizationPolicy bookinfo/reviews-viewer");
    assert.equal(condition(viewer, "Accepted")?.status, "True");
    const programmed = condition(viewer, "Programmed");
    assert.deepEqual([programmed?.status, programmed?.reason], ["False", "Pending"]);
    assert.match(programmed!.message, /1 of 2 proxies/, "the ratings sidecar is not counted");
  });

  it("gives a TrafficPolicy whose Service does not exist Programmed=False/TargetNotFound, not True", () => {
    const all = statuses([], "conflict-and-missing-target");
    const programmed = (name: string) => {
      const c = condition(all.get(`TrafficPolicy bookinfo/${name}`), "Programmed");
      return [c?.status, c?.reason];
    };
    assert.deepEqual(programmed("ghost"), ["False", "TargetNotFound"]);
    assert.match(
      condition(all.get("TrafficPolicy bookinfo/ghost"), "Programmed")!.message,
      /Service bookinfo\/ghost does not exist/,
    );
    assert.deepEqual(programmed("reviews-new"), ["False", "NotAccepted"], "conflicted");
    assert.deepEqual(programmed("reviews-old"), ["True", "Programmed"], "no proxy uses reviews yet");
  });

  describe("consecutive-error outlier detection and proxyless gRPC clients (gRFC A50)", () => {
    const client = (generator: "grpc" | undefined): ProxyState => ({
      streamId: 1,
      protocol: "sotw",
      node: { id: "client", cluster: "", metadata: generator ? { GENERATOR: generator } : {} },
      peer: "",
      connectedAt: now,
      types: [
        {
          typeUrl: "type.googleapis.com/envoy.config.listener.v3.Listener",
          names: ["reviews.bookinfo.svc.cluster.local:9080"],
          awaitingAnswer: false,
        },
      ],
      syncedGeneration: 1,
      ranGeneration: 1,
    });
    const programmed = (proxies: ProxyState[]) => {
      const state = clusterStateFromFiles(
        join(DATA, "base.yaml"),
        join(DATA, "in", "outlier-detection.yaml"),
      );
      const target = statusTargets(compile(state), () => 1, new ProxyIndex(proxies)).find(
        (t) => t.kind === "TrafficPolicy" && t.source.name === "reviews",
      )!;
      return condition(target.status(target.programming, [], now) as Status, "Programmed");
    };

    it("says in Programmed that proxyless clients of the Service do not eject on consecutive errors", () => {
      const status = programmed([client("grpc"), client(undefined)]);
      assert.deepEqual([status?.status, status?.reason], ["True", "Programmed"]);
      assert.match(status!.message, /All 2 proxies/);
      assert.match(status!.message, /1 of them is a proxyless gRPC client/);
      assert.match(status!.message, /spec\.outlierDetection\.consecutive5xxErrors/);
      assert.match(status!.message, /spec\.outlierDetection\.consecutiveGatewayErrors/);
      assert.match(status!.message, /success rate or failure percentage/);
    });

    it("says nothing of gRPC while only Envoy sidecars use the Service", () => {
      assert.doesNotMatch(programmed([client(undefined)])!.message, /gRPC/);
    });
  });

  it("counts a PeerAuthentication's workloads by its scope: selector, namespace or the whole mesh", () => {
    const all = statuses([], "mtls-port-level");
    const details = all.get("PeerAuthentication bookinfo/details");
    const meshWide = all.get("PeerAuthentication skiff-system/default");
    assert.equal(condition(details, "Accepted")?.status, "True");
    assert.equal(details?.workloads, 1, "only the details Pod carries app=details");
    assert.ok(
      (meshWide?.workloads ?? 0) > (details?.workloads ?? 0),
      "the root namespace's policy covers every workload",
    );
  });

  it("gives a PeerAuthentication Programmed from the sidecars of its workloads, which enforce it", () => {
    const pending = condition(
      statuses([sidecar("details-v1", 0), sidecar("reviews-v1", 1)], "mtls-port-level").get(
        "PeerAuthentication bookinfo/details",
      ),
      "Programmed",
    );
    assert.deepEqual([pending?.status, pending?.reason], ["False", "Pending"]);
    assert.match(pending!.message, /^0 of 1 proxies/, "only the details sidecar is counted");
    const programmed = condition(
      statuses([sidecar("details-v1", 1)], "mtls-port-level").get("PeerAuthentication bookinfo/details"),
      "Programmed",
    );
    assert.deepEqual([programmed?.status, programmed?.reason], ["True", "Programmed"]);
  });
});
