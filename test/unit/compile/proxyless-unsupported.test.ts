import assert from "node:assert/strict";
import { join } from "node:path";
import { compile } from "../../../src/compile/compile.js";
import { proxylessUnsupported } from "../../../src/compile/proxyless-unsupported.js";
import type { TrafficModel } from "../../../src/ir/model.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

const DATA = join(import.meta.dirname, "..", "..", "testdata", "translate");

const traffic = (outlierDetection: TrafficModel["outlierDetection"]): TrafficModel => ({
  source: { namespace: "bookinfo", name: "reviews", generation: 1 },
  subsets: [],
  http: [],
  loadBalancer: { kind: "RoundRobin" },
  ...(outlierDetection ? { outlierDetection } : {}),
});

describe("proxylessUnsupported: what gRPC clients accept but do not carry out (gRFC A50)", () => {
  it("names each consecutive-error detector that is on", () => {
    assert.deepEqual(
      proxylessUnsupported(traffic({ consecutive5xxErrors: 5, consecutiveGatewayErrors: 3 })).map((u) => [
        u.clients,
        u.field,
      ]),
      [
        ["proxyless", "spec.outlierDetection.consecutive5xxErrors"],
        ["proxyless", "spec.outlierDetection.consecutiveGatewayErrors"],
      ],
    );
  });

  it("names nothing for detectors turned off (0) or absent", () => {
    assert.deepEqual(proxylessUnsupported(traffic({ consecutive5xxErrors: 0, intervalMs: 10_000 })), []);
    assert.deepEqual(proxylessUnsupported(traffic(undefined)), []);
  });

  it("is recorded by compile in the TrafficPolicy's findings", () => {
    const { findings } = compile(
      clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "outlier-detection.yaml")),
    );
    const reviews = findings.find((f) => f.source.name === "reviews");
    assert.deepEqual(
      reviews?.unsupported.map((u) => u.field),
      ["spec.outlierDetection.consecutive5xxErrors", "spec.outlierDetection.consecutiveGatewayErrors"],
    );
  });
});
