import assert from "node:assert/strict";
import fastJsonPatch from "fast-json-patch";
import type { IPod } from "kubernetes-models/v1";
import { analyze } from "../../../src/analyze/analyze.js";
import { snapshotOf } from "../../../src/analyze/snapshot.js";
import type { Mesh } from "../../../src/api/v1alpha1/generated/mesh.js";
import { sidecarPatch } from "../../../src/inject/sidecar.js";
import { injectionSettings } from "../../../src/webhook/injection-settings.js";

const mesh = (proxy: Record<string, unknown>, rootNamespace = "skiff-system"): Mesh =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default" },
    spec: {
      rootNamespace,
      injection: { namespaceSelector: { matchLabels: { "skiff.dev/injection": "enabled" } }, proxy },
    },
  }) as Mesh;

const NAMESPACE = {
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name: "shop", labels: { "skiff.dev/injection": "enabled" } },
};

/** A Pod as the real injector leaves it under `injectedBy`, then running. */
function injectedPod(injectedBy: Mesh, hold = false): IPod {
  const pod: IPod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "web-1",
      namespace: "shop",
      labels: { app: "web" },
      annotations: hold ? { "proxy.skiff.dev/holdApplicationUntilProxyStarts": "true" } : {},
    },
    spec: { containers: [{ name: "web", image: "web:1" }] },
  };
  const { settings } = injectionSettings(injectedBy, pod, "ghcr.io/skiff/skiff:v1");
  const injected = fastJsonPatch.applyPatch(structuredClone(pod), sidecarPatch(pod, settings) as never, true)
    .newDocument as IPod;
  return { ...injected, status: { phase: "Running", podIP: "10.1.0.10" } };
}

const findingsFor = (now: Mesh, pod: IPod) =>
  analyze(snapshotOf([now, NAMESPACE, pod] as never[], false)).map(
    (f) => `${f.code} ${f.field}: ${f.message}`,
  );

/** SKF0403 against what the real injector (src/webhook/injection-settings.ts, src/inject/sidecar.ts) puts in Pods. */
describe("analyze: sidecars injected with an older configuration (SKF0403)", () => {
  for (const hold of [false, true])
    it(`finds nothing when the Mesh is unchanged${hold ? " (native sidecar)" : ""}`, () => {
      const now = mesh({ logLevel: "info", concurrency: 4, image: "registry.example/proxy:v2" });
      assert.deepEqual(findingsFor(now, injectedPod(now, hold)), []);
    });

  it("names the log level, the concurrency, the root namespace and the image that changed", () => {
    const before = mesh({ logLevel: "warning", concurrency: 2, image: "registry.example/proxy:v1" });
    const pod = injectedPod(before);
    assert.deepEqual(
      findingsFor(mesh({ logLevel: "debug", concurrency: 2, image: "registry.example/proxy:v1" }), pod),
      [
        "SKF0403 spec.containers[1].args: the sidecar was injected with an older configuration: arguments --log-level warning, the Mesh now gives --log-level debug",
      ],
    );
    assert.deepEqual(
      findingsFor(mesh({ logLevel: "warning", concurrency: 0, image: "registry.example/proxy:v1" }), pod),
      [
        "SKF0403 spec.containers[1].args: the sidecar was injected with an older configuration: arguments --concurrency, the Mesh now gives --cpuset-threads",
      ],
    );
    assert.deepEqual(
      findingsFor(
        mesh({ logLevel: "warning", concurrency: 2, image: "registry.example/proxy:v1" }, "mesh-root"),
        pod,
      ),
      [
        "SKF0403 spec.containers[1].args: the sidecar was injected with an older configuration: arguments --xds-address skiff-xds.skiff-system.svc:15010, the Mesh now gives --xds-address skiff-xds.mesh-root.svc:15010",
      ],
    );
    assert.deepEqual(
      findingsFor(mesh({ logLevel: "warning", concurrency: 2, image: "registry.example/proxy:v2" }), pod),
      [
        "SKF0403 spec.containers[1].image: the sidecar was injected with an older configuration: image registry.example/proxy:v1, the Mesh now gives registry.example/proxy:v2",
      ],
    );
  });
});
