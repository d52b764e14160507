import assert from "node:assert/strict";
import fastJsonPatch from "fast-json-patch";
import type { IContainer, IPod } from "kubernetes-models/v1";
import { parseAppProbers } from "../../../src/agent/app-health.js";
import { appProbeRewrite } from "../../../src/inject/probes.js";
import { sidecarPatch, type SidecarSettings } from "../../../src/inject/sidecar.js";

const settings: SidecarSettings = {
  proxyImage: "skiff-proxy:1.0",
  xdsAddress: "skiff-xds.skiff-system.svc:15010",
  proxyArgs: ["-c", "/etc/skiff/bootstrap/envoy.json"],
  initImage: "skiff:1.0",
  initArgs: [],
  bootstrapConfigMap: "skiff-envoy-bootstrap",
  trustBundleConfigMap: "skiff-trust-bundle",
  prometheusPort: 15090,
};

const web: IContainer = {
  name: "web",
  image: "web",
  ports: [
    { name: "http", containerPort: 8080 },
    { name: "admin", containerPort: 9000 },
  ],
  readinessProbe: {
    httpGet: { path: "/healthz", port: "http", httpHeaders: [{ name: "X-Probe", value: "ready" }] },
    initialDelaySeconds: 2,
    periodSeconds: 3,
    timeoutSeconds: 2,
    failureThreshold: 5,
  },
  livenessProbe: { tcpSocket: { port: 9000 }, periodSeconds: 7 },
  startupProbe: { exec: { command: ["cat", "/tmp/started"] } },
};

const worker: IContainer = {
  name: "worker",
  image: "worker",
  ports: [{ name: "grpc", containerPort: 7070 }],
  readinessProbe: { grpc: { port: 7070 } },
  livenessProbe: { httpGet: { path: "/live", port: "missing" } },
  startupProbe: { httpGet: { path: "/up", port: "8443", scheme: "HTTPS" }, failureThreshold: 30 },
};

const pod = (containers: IContainer[], annotations: Record<string, string> = {}): IPod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web-1", namespace: "shop", annotations },
  spec: { containers },
});

/** The Pod as the API server stores it after the injector's patch (RFC 6902, every operation validated). */
const injected = (p: IPod) =>
  fastJsonPatch.applyPatch(structuredClone(p), sidecarPatch(p, settings) as never, true).newDocument;

const probersOf = (p: IPod) => {
  const proxy = [...p.spec!.containers, ...(p.spec!.initContainers ?? [])].find(
    (c) => c.name === "skiff-proxy",
  )!;
  const env = proxy.env?.find((e) => e.name === "SKIFF_APP_PROBERS");
  return env && JSON.parse(env.value!);
};

describe("probes rewritten to go through the sidecar agent", () => {
  it("points HTTP and TCP probes at /app-health/<container>/<kind> on 15020, keeping their timing", () => {
    const [app] = injected(pod([web, worker])).spec!.containers;
    assert.deepEqual(app!.readinessProbe, {
      httpGet: { path: "/app-health/web/readyz", port: 15020, scheme: "HTTP" },
      initialDelaySeconds: 2,
      periodSeconds: 3,
      timeoutSeconds: 2,
      failureThreshold: 5,
    });
    assert.deepEqual(app!.livenessProbe, {
      httpGet: { path: "/app-health/web/livez", port: 15020, scheme: "HTTP" },
      periodSeconds: 7,
    });
  });

  it("hands the agent the original probes, named ports resolved, as JSON in SKIFF_APP_PROBERS", () => {
    assert.deepEqual(probersOf(injected(pod([web, worker]))), {
      "/app-health/web/readyz": {
        httpGet: {
          path: "/healthz",
          port: 8080,
          scheme: "HTTP",
          httpHeaders: [{ name: "X-Probe", value: "ready" }],
        },
        timeoutSeconds: 2,
      },
      "/app-health/web/livez": { tcpSocket: { port: 9000 }, timeoutSeconds: 1 },
      // A number written as a string is a port, as the kubelet reads it.
      "/app-health/worker/startupz": {
        httpGet: { path: "/up", port: 8443, scheme: "HTTPS" },
        timeoutSeconds: 1,
      },
    });
  });

  it("leaves exec and gRPC probes, probes of another host and unknown port names as they were", () => {
    const hosted: IContainer = {
      name: "hosted",
      image: "h",
      readinessProbe: { httpGet: { path: "/", port: 80, host: "example.com" } },
      livenessProbe: { tcpSocket: { port: 80, host: "example.com" } },
    };
    const [app, other, third] = injected(pod([web, worker, hosted])).spec!.containers;
    // exec runs inside the application container: it never meets the sidecar.
    assert.deepEqual(app!.startupProbe, web.startupProbe);
    assert.deepEqual(other!.readinessProbe, worker.readinessProbe);
    // The kubelet reports the unknown name itself.
    assert.deepEqual(other!.livenessProbe, worker.livenessProbe);
    assert.deepEqual(other!.startupProbe!.httpGet!.path, "/app-health/worker/startupz");
    assert.deepEqual(
      [third!.readinessProbe, third!.livenessProbe],
      [hosted.readinessProbe, hosted.livenessProbe],
    );
  });

  it("replaces only probes; everything else in the patch is added", () => {
    const ops = sidecarPatch(pod([web, worker]), settings);
    assert.deepEqual(
      ops.filter((op) => op.op === "replace").map((op) => op.path),
      [
        "/spec/containers/0/readinessProbe",
        "/spec/containers/0/livenessProbe",
        "/spec/containers/1/startupProbe",
      ],
    );
  });

  it('rewrites nothing for a Pod annotated sidecar.skiff.dev/rewriteAppHTTPProbers: "false"', () => {
    const optedOut = pod([web], { "sidecar.skiff.dev/rewriteAppHTTPProbers": "false" });
    assert.deepEqual(appProbeRewrite(optedOut), { replacements: [] });
    const result = injected(optedOut);
    assert.deepEqual(result.spec!.containers[0], web);
    assert.equal(probersOf(result), undefined);
  });

  it("gives the agent no SKIFF_APP_PROBERS when no probe needs it", () => {
    assert.equal(probersOf(injected(pod([{ name: "plain", image: "p" }]))), undefined);
  });

  it("hands the probes to the native sidecar too (holdApplicationUntilProxyStarts)", () => {
    const held = injected(pod([web], { "proxy.skiff.dev/holdApplicationUntilProxyStarts": "true" }));
    assert.equal(held.spec!.initContainers![1]!.name, "skiff-proxy");
    assert.deepEqual(Object.keys(probersOf(held)), ["/app-health/web/readyz", "/app-health/web/livez"]);
  });

  it("writes JSON the agent reads back unchanged", () => {
    const value = appProbeRewrite(pod([web, worker])).env!.value!;
    assert.deepEqual(parseAppProbers(value), JSON.parse(value));
    assert.equal(Object.keys(parseAppProbers(value)).length, 3);
  });
});
