import assert from "node:assert/strict";
import fastJsonPatch from "fast-json-patch";
import type { IPod } from "kubernetes-models/v1";
import { sidecarPatch, skipReason, type SidecarSettings } from "../../../src/inject/sidecar.js";

const settings: SidecarSettings = {
  proxyImage: "skiff-proxy:1.0",
  xdsAddress: "skiff-xds.skiff-system.svc:15010",
  proxyResources: { requests: { cpu: "100m", memory: "128Mi" } },
  proxyArgs: ["-c", "/etc/skiff/bootstrap/envoy.json"],
  initImage: "ghcr.io/skiff-dev/skiff:0.1.0",
  initArgs: ["--exclude-inbound-ports", "8081"],
  bootstrapConfigMap: "skiff-envoy-bootstrap",
  trustBundleConfigMap: "skiff-trust-bundle",
  prometheusPort: 15090,
};

const pod = (extra: Partial<IPod["spec"]> = {}, annotations?: Record<string, string>): IPod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "reviews-v1", namespace: "bookinfo", ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: "app", image: "reviews" }], ...extra },
});

/** Applies the patch the way the API server does (RFC 6902), validating every operation. */
const patched = (p: IPod) =>
  fastJsonPatch.applyPatch(structuredClone(p), sidecarPatch(p, settings) as never, true).newDocument;

describe("sidecar injection", () => {
  it("adds the init container first, the proxy last, four volumes and the status annotation", () => {
    const result = patched(pod());
    assert.deepEqual(
      result.spec!.initContainers!.map((c) => c.name),
      ["skiff-init"],
    );
    assert.deepEqual(
      result.spec!.containers.map((c) => c.name),
      ["app", "skiff-proxy"],
    );
    assert.deepEqual(
      result.spec!.volumes!.map((v) => v.name),
      ["skiff-bootstrap", "skiff-trust-bundle", "skiff-token", "skiff-agent"],
    );
    assert.equal(result.metadata!.annotations!["sidecar.skiff.dev/status"], "injected");
    const proxy = result.spec!.containers[1]!;
    assert.equal(proxy.securityContext!.runAsUser, 1337);
    // skiff agent runs first and starts Envoy with the arguments after --.
    assert.deepEqual(proxy.args!.slice(0, 5), [
      "agent",
      "sidecar",
      "--xds-address",
      "skiff-xds.skiff-system.svc:15010",
      "--",
    ]);
    assert.deepEqual(proxy.args!.slice(5), settings.proxyArgs);
    assert.ok(proxy.volumeMounts!.some((m) => m.name === "skiff-agent" && m.mountPath === "/var/run/skiff"));
    assert.deepEqual(
      proxy.ports!.map((p) => p.containerPort),
      [15001, 15006, 15090, 15021],
    );
    assert.equal(proxy.readinessProbe!.httpGet!.port, 15021);
    // Istio's startup probe: once it passes, the kubelet probes readiness at once.
    assert.deepEqual(proxy.startupProbe, {
      httpGet: { path: "/healthz/ready", port: 15021 },
      periodSeconds: 1,
      failureThreshold: 600,
    });
    // The proxy outlives the application's exit while callers drop the endpoint.
    assert.deepEqual(proxy.lifecycle, { preStop: { sleep: { seconds: 5 } } });
    // The API server refuses a sleep not shorter than the grace period.
    const graced = (seconds: number) =>
      patched({ ...pod(), spec: { ...pod().spec!, terminationGracePeriodSeconds: seconds } }).spec!
        .containers[1]!.lifecycle;
    assert.deepEqual(graced(2), { preStop: { sleep: { seconds: 1 } } });
    assert.equal(graced(1), undefined);
    assert.equal(graced(0), undefined);
    const token = result.spec!.volumes![2]!.projected!.sources![0]!.serviceAccountToken!;
    assert.deepEqual([token.audience, token.expirationSeconds], ["skiff", 3600]);
    assert.deepEqual(result.spec!.initContainers![0]!.args, ["iptables", "--exclude-inbound-ports", "8081"]);
    assert.equal(
      result.spec!.serviceAccountName,
      "default",
      "a projected token needs a named ServiceAccount",
    );
  });

  it("only adds: the user's containers, init containers, volumes and annotations stay as they were", () => {
    const original = pod(
      { initContainers: [{ name: "migrate", image: "m" }], volumes: [{ name: "data", emptyDir: {} }] },
      { team: "reviews" },
    );
    const ops = sidecarPatch(original, settings);
    assert.ok(ops.every((op) => op.op === "add"));
    const result = patched(original);
    assert.deepEqual(
      result.spec!.initContainers!.map((c) => c.name),
      ["skiff-init", "migrate"],
    );
    assert.deepEqual(
      result.spec!.volumes!.map((v) => v.name),
      ["data", "skiff-bootstrap", "skiff-trust-bundle", "skiff-token", "skiff-agent"],
    );
    assert.equal(result.metadata!.annotations!.team, "reviews");
  });

  it("is idempotent: an injected Pod gets an empty patch", () => {
    const once = patched(pod());
    assert.deepEqual(sidecarPatch(once, settings), []);
    assert.match(skipReason(once)!, /already has a sidecar/);
  });

  it("respects the opt-out annotation and skips host-network Pods", () => {
    assert.deepEqual(sidecarPatch(pod({}, { "sidecar.skiff.dev/inject": "false" }), settings), []);
    assert.deepEqual(sidecarPatch(pod({ hostNetwork: true }), settings), []);
  });

  it("gives a proxyless gRPC Pod no Envoy: its application speaks xDS itself", () => {
    const proxyless = pod({}, { "proxy.skiff.dev/proxyless": "true" });
    assert.deepEqual(sidecarPatch(proxyless, settings), []);
    assert.match(skipReason(proxyless)!, /proxyless gRPC/);
  });

  it("holds the application until the proxy starts: a native sidecar with a startup probe, before other init containers", () => {
    const result = patched(
      pod(
        { initContainers: [{ name: "migrate", image: "m" }] },
        { "proxy.skiff.dev/holdApplicationUntilProxyStarts": "true" },
      ),
    );
    assert.deepEqual(
      result.spec!.initContainers!.map((c) => c.name),
      ["skiff-init", "skiff-proxy", "migrate"],
    );
    const proxy = result.spec!.initContainers![1]!;
    assert.equal(proxy.restartPolicy, "Always");
    assert.equal(proxy.startupProbe!.httpGet!.path, "/healthz/ready");
    assert.deepEqual(
      result.spec!.containers.map((c) => c.name),
      ["app"],
    );
  });
});
