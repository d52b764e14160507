import assert from "node:assert/strict";
import {
  desiredControlPlane,
  desiredNamespaceConfig,
  meshSettings,
} from "../../../../src/controllers/mesh/desired.js";
import { xdsAllocatorEnv } from "../../../../src/controllers/mesh/xds-allocator-env.js";
import { durationMs } from "../../../../src/api/duration.js";
import type { Mesh } from "../../../../src/api/v1alpha1/generated/mesh.js";
import { DEFAULT_MAX_HEAP_SIZE_BYTES } from "../../../../src/inject/bootstrap.js";
import type { IPodSpec as PodSpec } from "kubernetes-models/v1";

const mesh: Mesh = {
  apiVersion: "skiff.dev/v1alpha1",
  kind: "Mesh",
  metadata: { name: "default", uid: "1234" },
  spec: { rootNamespace: "mesh-system", controlPlane: { replicas: 3 } },
};

describe("Mesh desired objects", () => {
  const settings = meshSettings(mesh, "skiff:1.0");

  it("are deterministic, labelled, and owned by the Mesh (except the namespace)", () => {
    const objects = desiredControlPlane(settings);
    assert.deepEqual(desiredControlPlane(settings), objects);
    assert.deepEqual(
      objects.map((o) => `${o.kind}/${o.metadata!.namespace ?? ""}/${o.metadata!.name}`),
      [
        "Namespace//mesh-system",
        "ServiceAccount/mesh-system/skiff-xds",
        "ClusterRole//skiff-xds",
        "ClusterRoleBinding//skiff-xds",
        "Role/mesh-system/skiff-xds",
        "RoleBinding/mesh-system/skiff-xds",
        "Deployment/mesh-system/skiff-xds",
        "Service/mesh-system/skiff-xds",
      ],
    );
    for (const o of objects.slice(1)) {
      assert.equal(o.metadata!.labels!["skiff.dev/managed-by"], "default");
      assert.equal(o.metadata!.ownerReferences![0]!.uid, "1234");
    }
    assert.equal(
      objects[0]!.metadata!.ownerReferences,
      undefined,
      "deleting a Mesh never deletes a namespace",
    );
  });

  it("run the xDS server with the allocator settings the benchmarks start it with", () => {
    const deployment = desiredControlPlane(settings).find((o) => o.kind === "Deployment") as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    };
    const env = deployment.spec.template.spec.containers[0]!.env;
    for (const [name, value] of Object.entries(xdsAllocatorEnv()))
      assert.deepEqual(env.find((e) => e.name === name)?.value, value, name);
  });

  it("run the operator's image unless the Mesh names one, with the Mesh's replicas", () => {
    const deployment = desiredControlPlane(settings).find((o) => o.kind === "Deployment") as unknown as {
      spec: { replicas: number; template: { spec: { containers: { image: string; args: string[] }[] } } };
    };
    assert.equal(deployment.spec.replicas, 3);
    assert.equal(deployment.spec.template.spec.containers[0]!.image, "skiff:1.0");
    assert.deepEqual(deployment.spec.template.spec.containers[0]!.args, ["xds"]);
    const named = meshSettings(
      { ...mesh, spec: { ...mesh.spec, controlPlane: { image: "registry/skiff:2" } } },
      "skiff:1.0",
    );
    assert.equal(named.image, "registry/skiff:2");
  });

  it("give the xDS replicas a token for the skiff audience, with which they ask each other for status, and a role that may get Meshes", () => {
    const objects = desiredControlPlane(settings);
    const pod = (
      objects.find((o) => o.kind === "Deployment") as unknown as {
        spec: { template: { spec: PodSpec } };
      }
    ).spec.template.spec;
    const mount = pod.containers[0]!.volumeMounts?.find((m) => m.name === "skiff-token");
    assert.deepEqual(mount, {
      name: "skiff-token",
      mountPath: "/var/run/secrets/skiff/tokens",
      readOnly: true,
    });
    assert.deepEqual(pod.volumes?.find((v) => v.name === "skiff-token")?.projected?.sources, [
      { serviceAccountToken: { audience: "skiff", expirationSeconds: 3600, path: "token" } },
    ]);
    // The other replicas authorize the request as CSDS does: `get` on meshes.skiff.dev.
    const role = objects.find((o) => o.kind === "ClusterRole") as unknown as {
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    assert.ok(
      role.rules.some(
        (r) => r.apiGroups.includes("skiff.dev") && r.resources.includes("meshes") && r.verbs.includes("get"),
      ),
    );
    assert.ok(
      role.rules.some(
        (r) =>
          r.apiGroups.includes("discovery.k8s.io") &&
          r.resources.includes("endpointslices") &&
          r.verbs.includes("watch"),
      ),
      "replicas find each other by the Service's EndpointSlices",
    );
  });

  it("give each meshed namespace the trust bundle and a bootstrap pointing at the sidecar agent's sockets", () => {
    const [bundle, bootstrap] = desiredNamespaceConfig(settings, "books", "PEM") as unknown as {
      data: Record<string, string>;
    }[];
    assert.deepEqual(bundle!.data, { "root-cert.pem": "PEM" });
    const envoy = JSON.parse(bootstrap!.data["envoy.json"]!);
    assert.equal(envoy.dynamic_resources.ads_config.api_type, "DELTA_GRPC");
    const pipeOf = (name: string) =>
      envoy.static_resources.clusters.find((c: { name: string }) => c.name === name).load_assignment
        .endpoints[0].lb_endpoints[0].endpoint.address.pipe;
    // Envoy dials the agent, which dials the xDS Service over TLS with the Pod's token.
    assert.deepEqual(pipeOf("skiff-xds"), { path: "/var/run/skiff/xds.sock" });
    assert.deepEqual(pipeOf("skiff-sds"), { path: "/var/run/skiff/sds.sock" });
  });

  it("parses the CRD's Go durations", () => {
    assert.equal(durationMs("87600h"), 87600 * 3600_000);
    assert.equal(durationMs("1h30m"), 5400_000);
    assert.equal(durationMs("500ms"), 500);
  });

  it("never throw on a sidecar memory limit the API server admits: the bootstrap's heap follows it when it is valid, and the default otherwise (the reconciler then writes none; issue 14)", () => {
    const withMemory = (memory: string | number) =>
      meshSettings(
        { ...mesh, spec: { injection: { proxy: { resources: { limits: { memory } } } } } },
        "skiff:1.0",
      );
    for (const memory of ["0", "1Ei", "0.5", "-1", "1e1.5", 9007199254740992]) {
      const s = withMemory(memory);
      assert.equal(s.proxy.maxHeapSizeBytes, DEFAULT_MAX_HEAP_SIZE_BYTES, String(memory));
      assert.doesNotThrow(() => desiredNamespaceConfig(s, "books", "PEM"), String(memory));
    }
    assert.equal(withMemory("256Mi").proxy.maxHeapSizeBytes, 256 * 2 ** 20);
  });
});
