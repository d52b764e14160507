import assert from "node:assert/strict";
import type { IContainer, IPod } from "kubernetes-models/v1";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { PROXY_CONTAINER, sidecarPatch } from "../../../src/inject/sidecar.js";
import { injectionSettings } from "../../../src/webhook/injection-settings.js";

const pod: IPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "reviews-v1", namespace: "bookinfo" },
  spec: { containers: [{ name: "app", image: "reviews" }] },
};

const mesh = (prometheusPort?: number): Mesh => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "Mesh",
  metadata: { name: "default" },
  spec: prometheusPort === undefined ? {} : { observability: { metrics: { prometheusPort } } },
});

/** The port the injected sidecar declares for its Prometheus listener. */
function declaredPrometheusPort(m: Mesh): number | undefined {
  const patch = sidecarPatch(pod, injectionSettings(m, pod, "skiff:test").settings) as {
    path: string;
    value: unknown;
  }[];
  const containers = patch.flatMap((op) =>
    op.path === "/spec/containers/-"
      ? [op.value as IContainer]
      : op.path === "/spec/containers"
        ? (op.value as IContainer[])
        : [],
  );
  const proxy = containers.find((c) => c.name === PROXY_CONTAINER);
  assert.ok(proxy, JSON.stringify(patch));
  return proxy.ports?.find((p) => p.name === "http-envoy-prom")?.containerPort;
}

describe("injection settings", () => {
  it("declare the Prometheus port the Mesh moved the sidecar's metrics to", () => {
    assert.equal(declaredPrometheusPort(mesh(9102)), 9102);
  });

  it("declare 15090 by default", () => {
    assert.equal(declaredPrometheusPort(mesh()), 15090);
  });
});
