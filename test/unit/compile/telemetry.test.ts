import assert from "node:assert/strict";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { telemetryModel } from "../../../src/compile/telemetry.js";

const mesh = (observability?: NonNullable<Mesh["spec"]>["observability"]): Mesh =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default" },
    spec: { observability },
  }) as Mesh;

describe("telemetryModel: the Mesh's observability as the IR's telemetry", () => {
  it("no Mesh: no telemetry at all", () => assert.equal(telemetryModel(undefined), undefined));

  it("applies the CRD's defaults to a Mesh that names nothing: JSON access logs, no tracer without a collector", () =>
    assert.deepEqual(telemetryModel(mesh()), { accessLog: { format: "JSON" } }));

  it("turns access logs off, and on a collector traces 1% unless the Mesh says otherwise", () => {
    assert.deepEqual(
      telemetryModel(mesh({ accessLog: { enabled: false }, tracing: { otlpEndpoint: "otel:4317" } })),
      { tracing: { samplingPercent: 1 } },
    );
    assert.deepEqual(
      telemetryModel(
        mesh({ accessLog: { format: "TEXT" }, tracing: { otlpEndpoint: "otel:4317", samplingPercent: 0.5 } }),
      ),
      { accessLog: { format: "TEXT" }, tracing: { samplingPercent: 0.5 } },
    );
  });

  it("an empty otlpEndpoint turns tracing off, whatever the sampling", () =>
    assert.deepEqual(telemetryModel(mesh({ tracing: { otlpEndpoint: "", samplingPercent: 100 } })), {
      accessLog: { format: "JSON" },
    }));
});
