import assert from "node:assert/strict";
import type { PolicyFindings } from "../../../../src/compile/findings.js";
import { trafficPolicyStatus } from "../../../../src/xds/status/traffic-policy.js";
import type { ServiceModel } from "../../../../src/ir/model.js";
import { ProxyIndex } from "../../../../src/xds/status/proxy-index.js";
import { serviceResourceNames } from "../../../../src/xds/translate/names.js";
import type { ProxyState } from "../../../../src/xds/server/ads-server.js";

const accepted: PolicyFindings = {
  kind: "TrafficPolicy",
  source: { namespace: "bookinfo", name: "reviews", generation: 4 },
  service: "reviews.bookinfo.svc.cluster.local",
  findings: [
    { type: "Accepted", status: "True", reason: "Accepted", message: "ok" },
    { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", message: "ok" },
  ],
  unsupported: [],
};
const now = new Date("2026-11-25T12:00:00Z");
const condition = (status: ReturnType<typeof trafficPolicyStatus>, type: string) =>
  status.conditions?.find((c) => c.type === type);

describe("TrafficPolicy status", () => {
  it("is Programmed when every targeted proxy runs the generation", () => {
    const status = trafficPolicyStatus(
      accepted,
      { targeted: 2, proxyless: 0, acked: 2, nacked: 0, lastNackMessage: "" },
      [],
      now,
    );
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
      [
        ["Accepted", "True", "Accepted", 4],
        ["ResolvedRefs", "True", "ResolvedRefs", 4],
        ["Programmed", "True", "Programmed", 4],
      ],
    );
    assert.deepEqual(status.proxies, { targeted: 2, acked: 2, nacked: 0 });
    assert.equal(status.observedGeneration, 4);
  });

  it("is Pending while some proxies have not ACKed, and Nacked with the proxy's message after a NACK", () => {
    const pending = trafficPolicyStatus(
      accepted,
      { targeted: 3, proxyless: 0, acked: 1, nacked: 0, lastNackMessage: "" },
      [],
      now,
    );
    assert.deepEqual(
      [condition(pending, "Programmed")?.status, condition(pending, "Programmed")?.reason],
      ["False", "Pending"],
    );
    const nacked = trafficPolicyStatus(
      accepted,
      { targeted: 3, proxyless: 0, acked: 2, nacked: 1, lastNackMessage: "bad regex" },
      [],
      now,
    );
    assert.equal(condition(nacked, "Programmed")?.reason, "Nacked");
    assert.match(condition(nacked, "Programmed")!.message, /1 of 3 proxies rejected.*bad regex/);
    assert.equal(nacked.proxies?.lastNackMessage, "bad regex");
  });

  it("cuts a long NACK message on code points: an emoji at the boundary is never halved", () => {
    // Half an emoji (a lone surrogate) made the status write fail: JSON.stringify writes it as
    // "\ud83d", which the API server's YAML decoder for server-side apply refuses.
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    const prefix = "1 of 1 proxies rejected the configuration: ";
    for (const [field, at] of [
      ["lastNackMessage", 1023],
      ["the Programmed message", 32767 - prefix.length],
    ] as const) {
      const lastNackMessage = "x".repeat(at) + "🙂".repeat(3);
      const status = trafficPolicyStatus(
        accepted,
        { targeted: 1, proxyless: 0, acked: 0, nacked: 1, lastNackMessage },
        [],
        now,
      );
      const stored = status.proxies!.lastNackMessage!;
      const message = condition(status, "Programmed")!.message;
      assert.doesNotMatch(stored, loneSurrogate, "lastNackMessage");
      assert.doesNotMatch(message, loneSurrogate, field);
      assert.ok([...stored].length <= 1024 && [...message].length <= 32768, field);
      if (field === "lastNackMessage") assert.equal(stored, "x".repeat(1023) + "🙂");
      else assert.equal(message, prefix + "x".repeat(at) + "🙂");
    }
  });

  it("is not Programmed when not Accepted, whatever the proxies did", () => {
    const conflicted: PolicyFindings = {
      ...accepted,
      findings: [{ type: "Accepted", status: "False", reason: "Conflicted", message: "older policy wins" }],
    };
    const status = trafficPolicyStatus(
      conflicted,
      { targeted: 1, proxyless: 0, acked: 1, nacked: 0, lastNackMessage: "" },
      [],
      now,
    );
    assert.deepEqual(
      [condition(status, "Programmed")?.status, condition(status, "Programmed")?.reason],
      ["False", "NotAccepted"],
    );
  });

  it("is not Programmed when its target Service does not exist, even with no proxy to wait for", () => {
    // Compile's finding for a policy whose Service is missing: accepted, but it governs no Service.
    const noTarget: PolicyFindings = {
      ...accepted,
      service: undefined,
      findings: [
        accepted.findings[0]!,
        {
          type: "ResolvedRefs",
          status: "False",
          reason: "BackendNotFound",
          message: "Service bookinfo/reviews does not exist.",
        },
      ],
    };
    for (const programming of [
      { targeted: 0, proxyless: 0, acked: 0, nacked: 0, lastNackMessage: "" },
      { targeted: 2, proxyless: 2, acked: 2, nacked: 0, lastNackMessage: "" },
    ]) {
      const programmed = condition(trafficPolicyStatus(noTarget, programming, [], now), "Programmed");
      assert.deepEqual(
        [programmed?.status, programmed?.reason, programmed?.message, programmed?.observedGeneration],
        ["False", "TargetNotFound", "The policy is not applied: Service bookinfo/reviews does not exist.", 4],
      );
    }
  });

  describe("settings proxyless gRPC clients do not carry out", () => {
    const withGap: PolicyFindings = {
      ...accepted,
      unsupported: [
        {
          clients: "proxyless",
          field: "spec.outlierDetection.consecutive5xxErrors",
          message: "gRPC ejects none",
        },
      ],
    };
    const programmed = (found: PolicyFindings, proxyless: number, acked = 3) =>
      condition(
        trafficPolicyStatus(
          found,
          { targeted: 3, proxyless, acked, nacked: 0, lastNackMessage: "" },
          [],
          now,
        ),
        "Programmed",
      )!;

    it("are named in Programmed while proxyless clients use the Service, which stays Programmed", () => {
      const status = programmed(withGap, 2);
      assert.deepEqual([status.status, status.reason], ["True", "Programmed"]);
      assert.equal(
        status.message,
        "All 3 proxies that this policy affects run this generation. 2 of them are proxyless gRPC clients, " +
          "which do not carry out spec.outlierDetection.consecutive5xxErrors: gRPC ejects none.",
      );
      assert.match(programmed(withGap, 1, 2).message, /^2 of 3 proxies run this generation\. 1 of them is a/);
    });

    it("are not mentioned without proxyless clients, nor when nothing is unsupported", () => {
      assert.equal(
        programmed(withGap, 0).message,
        "All 3 proxies that this policy affects run this generation.",
      );
      assert.equal(
        programmed(accepted, 2).message,
        "All 3 proxies that this policy affects run this generation.",
      );
    });
  });

  it("keeps lastTransitionTime while a status holds", () => {
    const first = trafficPolicyStatus(
      accepted,
      { targeted: 0, proxyless: 0, acked: 0, nacked: 0, lastNackMessage: "" },
      [],
      now,
    );
    const later = trafficPolicyStatus(
      accepted,
      { targeted: 1, proxyless: 0, acked: 1, nacked: 0, lastNackMessage: "" },
      first.conditions as never,
      new Date("2026-11-25T13:00:00Z"),
    );
    assert.equal(condition(later, "Programmed")?.lastTransitionTime, "2026-11-25T12:00:00Z");
  });
});

describe("programming counts", () => {
  const service: ServiceModel = {
    namespace: "bookinfo",
    name: "reviews",
    hostname: "reviews.bookinfo.svc.cluster.local",
    clusterIP: "10.96.0.10",
    ports: [{ name: "grpc", port: 9080, protocol: "HTTP2" }],
    endpoints: [],
  };
  const proxy = (
    id: string,
    types: Partial<ProxyState["types"][number]>[],
    ranGeneration?: number,
  ): ProxyState => ({
    streamId: 1,
    protocol: "sotw",
    node: { id, cluster: "", metadata: {} },
    peer: "",
    connectedAt: now,
    types: types.map((t) => ({ typeUrl: "", awaitingAnswer: false, ...t })),
    ...(ranGeneration === undefined ? {} : { ranGeneration }),
  });
  const programmingOf = (proxies: ProxyState[]) =>
    new ProxyIndex(proxies).ofService(serviceResourceNames(service), 5);
  const RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
  const CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

  it("targets proxies that subscribe to the Service's routes or clusters, by name or wildcard", () => {
    const result = programmingOf([
      proxy("by-name", [{ typeUrl: RDS, names: ["reviews.bookinfo.svc.cluster.local:9080"] }], 5),
      proxy("wildcard", [{ typeUrl: CDS, wildcard: true, names: [] }], 4),
      proxy("elsewhere", [{ typeUrl: RDS, names: ["ratings.bookinfo.svc.cluster.local:9080"] }], 5),
    ]);
    assert.deepEqual(result, { targeted: 2, proxyless: 0, acked: 1, nacked: 0, lastNackMessage: "" });
  });

  it("counts the proxyless gRPC clients among the targeted proxies", () => {
    const grpc = {
      ...proxy("grpc", [{ typeUrl: RDS, names: ["reviews.bookinfo.svc.cluster.local:9080"] }], 5),
    };
    const result = programmingOf([
      { ...grpc, node: { ...grpc.node, metadata: { GENERATOR: "grpc" } } },
      proxy("envoy", [{ typeUrl: RDS, names: ["reviews.bookinfo.svc.cluster.local:9080"] }], 5),
    ]);
    assert.deepEqual(result, { targeted: 2, proxyless: 1, acked: 2, nacked: 0, lastNackMessage: "" });
  });

  it("counts a NACK of this generation or later, unless a later ACK superseded it", () => {
    const nack = { generation: 6, version: "x", message: "rejected", at: now };
    const result = programmingOf([
      proxy("nacked", [
        {
          typeUrl: RDS,
          names: ["reviews.bookinfo.svc.cluster.local:9080"],
          lastNack: nack,
          lastAckedGeneration: 5,
        },
      ]),
      proxy(
        "recovered",
        [
          {
            typeUrl: RDS,
            names: ["reviews.bookinfo.svc.cluster.local:9080"],
            lastNack: nack,
            lastAckedGeneration: 7,
          },
        ],
        7,
      ),
    ]);
    assert.deepEqual(result, { targeted: 2, proxyless: 0, acked: 1, nacked: 1, lastNackMessage: "rejected" });
  });
});
