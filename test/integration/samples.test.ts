import assert from "node:assert/strict";
import { join } from "node:path";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { kubectlOk } from "./kubectl.js";

const SAMPLES = join(repositoryRoot(), "config", "samples");

describe("config/samples", () => {
  before(async () => {
    await kubectlOk(["apply", "--server-side", "--field-manager=skiff-test", "-k", SAMPLES]);
  });
  // The samples' Mesh would otherwise be the cluster's mesh for every later test of the shared control plane.
  after(async () => {
    await kubectlOk(["delete", "--ignore-not-found", "--wait=false", "-k", SAMPLES]);
  });

  it("apply with kubectl apply -k, and again without changing anything", async () => {
    const versions = async () =>
      JSON.parse(
        await kubectlOk([
          "get",
          "ns/bookinfo",
          "mesh/default",
          "-n",
          "bookinfo",
          "tp/reviews",
          "pa/default",
          "ap/reviews-viewer",
          "-o",
          "json",
        ]),
      ).items.map(
        (o: { kind: string; metadata: { resourceVersion: string } }) =>
          `${o.kind}@${o.metadata.resourceVersion}`,
      );
    const before = await versions();
    assert.equal(before.length, 5);
    await kubectlOk(["apply", "--server-side", "--field-manager=skiff-test", "-k", SAMPLES]);
    assert.deepEqual(await versions(), before, "a no-op apply must not write");
  });

  it("come back with the API server's defaults filled in", async () => {
    const tp = JSON.parse(await kubectlOk(["get", "tp", "reviews", "-n", "bookinfo", "-o", "json"]));
    assert.equal(tp.spec.targetRef.group, "", "targetRef.group defaults to the core group");
    assert.equal(tp.spec.http[1].fault.delay.percent, 5);
    assert.equal(tp.spec.outlierDetection.maxEjectionPercent, 50);
    assert.equal(tp.spec.connectionPool.tcp.connectTimeout, "1s");

    const pa = JSON.parse(await kubectlOk(["get", "pa", "default", "-n", "bookinfo", "-o", "json"]));
    assert.equal(pa.spec.mtls.mode, "STRICT");

    const ap = JSON.parse(await kubectlOk(["get", "ap", "reviews-viewer", "-n", "bookinfo", "-o", "json"]));
    assert.equal(ap.spec.action, "ALLOW");
  });

  it("let a minimal Mesh default everything, as API.md documents", async () => {
    await kubectlOk(
      ["apply", "-f", "-"],
      "apiVersion: skiff.dev/v1alpha1\nkind: Mesh\nmetadata:\n  name: minimal\n",
    );
    const mesh = JSON.parse(await kubectlOk(["get", "mesh", "minimal", "-o", "json"]));
    await kubectlOk(["delete", "mesh", "minimal"]);
    assert.deepEqual(mesh.spec, {
      trustDomain: "cluster.local",
      rootNamespace: "skiff-system",
      controlPlane: { replicas: 2 },
      certificateAuthority: { builtin: { rootValidity: "87600h", workloadValidity: "24h" } },
      injection: {
        namespaceSelector: { matchLabels: { "skiff.dev/injection": "enabled" } },
        // No image: the operator fills in its release's proxy image when it injects.
        proxy: { logLevel: "warning", concurrency: 2 },
        interception: {},
      },
      defaults: { mtlsMode: "PERMISSIVE", egressHosts: ["*/*"] },
      observability: {
        accessLog: { enabled: true, format: "JSON" },
        tracing: { samplingPercent: 1 },
        metrics: { prometheusPort: 15090 },
      },
    });
  });

  it("an empty AuthorizationPolicy defaults to ALLOW with no rules, which denies all as in Istio", async () => {
    await kubectlOk(
      ["apply", "-f", "-"],
      "apiVersion: skiff.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-all\n  namespace: default\nspec: {}\n",
    );
    const ap = JSON.parse(await kubectlOk(["get", "ap", "deny-all", "-n", "default", "-o", "json"]));
    await kubectlOk(["delete", "ap", "deny-all", "-n", "default"]);
    assert.deepEqual(ap.spec, { action: "ALLOW" });
  });
});
