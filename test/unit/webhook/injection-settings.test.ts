import assert from "node:assert/strict";
import type { IContainer, IPod } from "kubernetes-models/v1";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { PROXY_CONTAINER, sidecarPatch } from "../../../src/inject/sidecar.js";
import { injectionSettings } from "../../../src/webhook/injection-settings.js";
import { PROXY_CONFIG_ANNOTATION } from "../../../src/mesh/annotations.js";

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
  return injectedProxy(m, pod).ports?.find((p) => p.name === "http-envoy-prom")?.containerPort;
}

/** The skiff-proxy container that injection adds to a Pod. */
function injectedProxy(m: Mesh, target: IPod): IContainer {
  const patch = sidecarPatch(target, injectionSettings(m, target, "skiff:test").settings) as {
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
  return proxy;
}

describe("injection settings", () => {
  it("declare the Prometheus port the Mesh moved the sidecar's metrics to", () => {
    assert.equal(declaredPrometheusPort(mesh(9102)), 9102);
  });

  it("declare 15090 by default", () => {
    assert.equal(declaredPrometheusPort(mesh()), 15090);
  });

  it("give the sidecar the Pod's proxyMetadata (proxy.skiff.dev/config) after its own environment", () => {
    const annotated: IPod = {
      ...pod,
      metadata: {
        ...pod.metadata,
        annotations: { [PROXY_CONFIG_ANNOTATION]: "proxyMetadata: { SECRET_TTL: 90s }" },
      },
    };
    const names = (target: IPod) => (injectedProxy(mesh(), target).env ?? []).map((e) => e.name);
    assert.deepEqual(names(annotated), [...names(pod), "SECRET_TTL"]);
    assert.deepEqual(injectedProxy(mesh(), annotated).env?.at(-1), { name: "SECRET_TTL", value: "90s" });
    // The Pod's creator hears of what is not read; a malformed value is refused, naming the annotation.
    const warned = { ...pod, metadata: { annotations: { [PROXY_CONFIG_ANNOTATION]: "concurrency: 2" } } };
    assert.deepEqual(injectionSettings(mesh(), warned, "skiff:test").warnings, [
      `annotation ${PROXY_CONFIG_ANNOTATION}: only proxyMetadata is read; ignored: concurrency`,
    ]);
    const malformed = { ...pod, metadata: { annotations: { [PROXY_CONFIG_ANNOTATION]: "- x" } } };
    assert.throws(() => injectionSettings(mesh(), malformed, "skiff:test"), /proxy\.skiff\.dev\/config/);
  });
});
