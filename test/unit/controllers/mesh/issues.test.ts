import assert from "node:assert/strict";
import type { IPod } from "kubernetes-models/v1";
import type { Mesh } from "../../../../src/api/v1alpha1/generated/mesh.js";
import {
  meshIssues,
  proxyMemoryLimitBytes,
  resourcesIssues,
} from "../../../../src/controllers/mesh/issues.js";
import { validateMesh } from "../../../../src/webhook/validate-mesh.js";
import { injectionSettings } from "../../../../src/webhook/injection-settings.js";

type Resources = { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
const meshWith = (proxy?: Resources, controlPlane?: Resources): Mesh => ({
  apiVersion: "skiff.dev/v1alpha1",
  kind: "Mesh",
  metadata: { name: "default", uid: "1234" },
  spec: {
    ...(controlPlane ? { controlPlane: { resources: controlPlane as never } } : {}),
    ...(proxy ? { injection: { proxy: { resources: proxy as never } } } : {}),
  },
});
const issues = (resources: Resources) =>
  resourcesIssues(resources, "spec.injection.proxy.resources", "proxy").map(
    (i) => `${i.field}: ${i.message}`,
  );

describe("the Mesh's container resources", () => {
  it("refuse a sidecar memory limit that is not a positive whole number of bytes from 32Mi to 2^53 - 1, naming the field", () => {
    for (const memory of [
      "0",
      "1Ei",
      "0.5",
      "1",
      "512",
      "64k",
      "-1Gi",
      "33554431",
      "8Pi",
      "1500m",
      -5,
      "1e1.5",
    ]) {
      const found = issues({ limits: { memory } });
      assert.equal(found.length, 1, JSON.stringify(memory));
      assert.match(found[0]!, /^spec\.injection\.proxy\.resources\.limits\.memory: must be /, found[0]);
      assert.equal(proxyMemoryLimitBytes(meshWith({ limits: { memory } })), undefined);
    }
    assert.match(
      issues({ limits: { memory: "1Ei" } })[0]!,
      /must be a whole number of bytes from 32Mi to 9007199254740991 \(2\^53 - 1\), not "1Ei"$/,
    );
    assert.match(issues({ limits: { memory: "1e1.5" } })[0]!, /must be a Kubernetes quantity such as 256Mi/);
  });

  it("convert an admitted sidecar memory limit to bytes exactly: the bootstrap's heap size", () => {
    const cases: [string | number, number][] = [
      ["32Mi", 32 * 2 ** 20],
      ["256Mi", 256 * 2 ** 20],
      ["1.5Gi", 1.5 * 2 ** 30],
      ["512M", 512e6],
      ["1e9", 1e9],
      [1073741824, 2 ** 30],
      ["9007199254740991", Number.MAX_SAFE_INTEGER],
    ];
    for (const [memory, bytes] of cases) {
      assert.deepEqual(issues({ limits: { memory } }), [], String(memory));
      assert.equal(proxyMemoryLimitBytes(meshWith({ limits: { memory } })), bytes, String(memory));
    }
    assert.equal(proxyMemoryLimitBytes(meshWith()), undefined);
    assert.equal(proxyMemoryLimitBytes(meshWith({ requests: { memory: "1Gi" } })), undefined);
  });

  it("take requests of 0 but not limits of 0, whole millicores, and requests no larger than limits", () => {
    assert.deepEqual(issues({ requests: { cpu: "0", memory: "0", "ephemeral-storage": "0" } }), []);
    assert.deepEqual(
      issues({ limits: { cpu: "1m", "ephemeral-storage": "1" }, requests: { cpu: "1m" } }),
      [],
    );
    assert.deepEqual(issues({ limits: { cpu: "0", "ephemeral-storage": "0" }, requests: { cpu: "0.1m" } }), [
      'spec.injection.proxy.resources.limits.cpu: must be a whole number of millicores from 1m to 9007199254740991m, not "0"',
      'spec.injection.proxy.resources.limits.ephemeral-storage: must be a whole number of bytes from 1 to 9007199254740991 (2^53 - 1), not "0"',
      'spec.injection.proxy.resources.requests.cpu: must be a whole number of millicores from 0 to 9007199254740991m, not "0.1m"',
    ]);
    assert.deepEqual(
      issues({ limits: { memory: "256Mi", cpu: "1" }, requests: { memory: "512Mi", cpu: "1000m" } }),
      [
        'spec.injection.proxy.resources.requests.memory: must be at most limits.memory ("256Mi"), not "512Mi"',
      ],
    );
  });

  it("take only cpu, memory and ephemeral-storage", () => {
    assert.deepEqual(issues({ limits: { "nvidia.com/gpu": "1" }, requests: { "hugepages-2Mi": "2Mi" } }), [
      "spec.injection.proxy.resources.limits[nvidia.com/gpu]: the sidecar takes only cpu, memory and ephemeral-storage",
      "spec.injection.proxy.resources.requests[hugepages-2Mi]: the sidecar takes only cpu, memory and ephemeral-storage",
    ]);
  });

  it("check the xDS server's resources too, with no floor on its memory limit", () => {
    assert.deepEqual(meshIssues(meshWith(undefined, { limits: { memory: "1" } })), []);
    assert.deepEqual(
      meshIssues(meshWith({ limits: { memory: "0" } }, { limits: { memory: "0" } })).map((i) => i.field),
      ["spec.injection.proxy.resources.limits.memory", "spec.controlPlane.resources.limits.memory"],
    );
  });
});

describe("the Mesh's Prometheus port", () => {
  const withPort = (prometheusPort: number): Mesh => ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "Mesh",
    metadata: { name: "default" },
    spec: { observability: { metrics: { prometheusPort } } },
  });

  it("is none of the sidecar's own ports: Envoy refused the bootstrap with 15021, the health listener's", () => {
    for (const port of [15000, 15001, 15006, 15020, 15021])
      assert.deepEqual(
        meshIssues(withPort(port)).map((i) => i.field),
        ["spec.observability.metrics.prometheusPort"],
        String(port),
      );
    assert.match(
      meshIssues(withPort(15021))[0]!.message,
      /^must not be one of the sidecar's own ports \(15000, 15001, 15006, 15020, 15021\): 15021 is the health listener/,
    );
    for (const port of [15090, 9090, 1, 65535])
      assert.deepEqual(meshIssues(withPort(port)), [], String(port));
  });
});

describe("the Mesh validating webhook", () => {
  const review = (operation: "CREATE" | "UPDATE", object: Mesh, oldObject?: Mesh) => ({
    uid: "u",
    kind: { group: "skiff.dev", version: "v1alpha1", kind: "Mesh" },
    operation,
    object,
    ...(oldObject ? { oldObject } : {}),
  });

  it("refuses a Mesh whose sidecar memory limit is 0 or 1Ei, naming the field", () => {
    for (const memory of ["0", "1Ei"]) {
      const decision = validateMesh(review("CREATE", meshWith({ limits: { memory } })));
      assert.equal(decision.allowed, false);
      assert.match(
        (decision as { message: string }).message,
        /^spec\.injection\.proxy\.resources\.limits\.memory: must be a whole number of bytes/,
      );
    }
    assert.deepEqual(validateMesh(review("CREATE", meshWith({ limits: { memory: "1Gi" } }))), {
      allowed: true,
    });
  });

  it("lets an update keep an issue the stored Mesh already had (finalizers, deletion), but not add one", () => {
    const stored = meshWith({ limits: { memory: "0" } });
    assert.deepEqual(validateMesh(review("UPDATE", stored, stored)), { allowed: true });
    const worse = meshWith({ limits: { memory: "0", cpu: "0" } });
    const decision = validateMesh(review("UPDATE", worse, stored));
    assert.equal(decision.allowed, false);
    assert.match(
      (decision as { message: string }).message,
      /^spec\.injection\.proxy\.resources\.limits\.cpu: /,
    );
    assert.equal(
      validateMesh(review("UPDATE", meshWith({ limits: { memory: "1" } }), stored)).allowed,
      false,
    );
  });
});

describe("the injector under a Mesh whose sidecar resources would be refused", () => {
  it("gives the sidecar no resources, and says why in a warning", () => {
    const pod: IPod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web" },
      spec: { containers: [{ name: "app", image: "nginx" }] },
    };
    const bad = injectionSettings(meshWith({ limits: { memory: "0", cpu: "1" } }), pod, "skiff:test");
    assert.equal(bad.settings.proxyResources, undefined);
    assert.deepEqual(bad.warnings, [
      'the sidecar gets no resources: Mesh default spec.injection.proxy.resources.limits.memory: must be a whole number of bytes from 32Mi to 9007199254740991 (2^53 - 1), not "0"',
    ]);
    const good = injectionSettings(meshWith({ limits: { memory: "256Mi" } }), pod, "skiff:test");
    assert.deepEqual(good.settings.proxyResources, { limits: { memory: "256Mi" } });
    assert.deepEqual(good.warnings, []);
  });
});
