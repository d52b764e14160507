import assert from "node:assert/strict";
import { createServer } from "node:net";
import { pino } from "pino";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Mesh } from "../../src/api/v1alpha1/generated/mesh.js";
import { readManifests } from "../../src/k8s/manifests.js";
import { join } from "node:path";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { startWebhook, type RunningWebhook } from "../../src/webhook/webhook.js";
import { installCrds, readCrds } from "../../src/controlplane/crds.js";
import { withoutLabelRules } from "../support/without-label-rules.js";
import { controlPlane } from "./controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "./kubectl.js";

/** A port that is free now, so the webhook configurations can name it before the webhook starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const pod = (name: string, annotations: Record<string, string> = {}) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  annotations: ${JSON.stringify(annotations)}
  labels: { app: web }
spec:
  containers: [{ name: app, image: nginx }]
`;

type Pod = {
  metadata: { annotations?: Record<string, string> };
  spec: {
    containers: { name: string }[];
    initContainers?: { name: string; args?: string[] }[];
    volumes?: { name: string }[];
  };
};
const getPod = async (ns: string, name: string) =>
  JSON.parse(await kubectlOk(["get", "pod", name, "-n", ns, "-o", "json"])) as Pod;

/**
 * The admission webhooks, called by the real API server over TLS. The
 * webhook configurations come from config/webhook, pointed at this process
 * and installed without a caBundle: the webhook patches in its own CA, so
 * every admitted Pod also proves that.
 */
describe("admission webhooks, called by the API server", function () {
  this.timeout(120_000);
  let webhook: RunningWebhook | undefined;
  let port: number;
  const applier = () => new ServerSideApplier(controlPlane().kubeConfig(), "skiff/test");
  const startOurWebhook = async () =>
    (webhook = await startWebhook(controlPlane().kubeConfig(), {
      logger: pino({ level: "silent" }),
      address: `127.0.0.1:${port}`,
      namespace: "default",
      secretName: "skiff-webhook-tls",
      hosts: ["127.0.0.1"],
      image: "ghcr.io/skiff-dev/skiff:test",
      resyncMs: 1000,
    }));

  before(async () => {
    port = await freePort();
    const configurations = (await readManifests(join(repositoryRoot(), "config", "webhook"))).filter((m) =>
      m.kind?.endsWith("WebhookConfiguration"),
    ) as (KubernetesObject & { webhooks: { clientConfig: object }[] })[];
    for (const configuration of configurations) {
      for (const w of configuration.webhooks) {
        const path = (w.clientConfig as { service: { path: string } }).service.path;
        w.clientConfig = { url: `https://127.0.0.1:${port}${path}` };
      }
      await applier().apply(configuration, { force: true });
    }
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: webhook-test }
---
apiVersion: v1
kind: Namespace
metadata: { name: wh-meshed, labels: { skiff.dev/injection: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: wh-plain }
`,
    );
    await startOurWebhook();
  });

  after(async () => {
    try {
      await webhook?.stop();
    } finally {
      await kubectl(["delete", "mutatingwebhookconfiguration", "skiff-sidecar-injector"]);
      await kubectl(["delete", "validatingwebhookconfiguration", "skiff-validation"]);
      await kubectl(["delete", "mesh", "webhook-test"]);
      await kubectl(["delete", "namespace", "wh-meshed", "wh-plain", "--wait=false"]);
    }
  });

  it("patches its CA into both webhook configurations", async () => {
    const bundle = Buffer.from(webhook!.caBundle()).toString("base64");
    for (const kind of [
      "mutatingwebhookconfiguration/skiff-sidecar-injector",
      "validatingwebhookconfiguration/skiff-validation",
    ]) {
      const config = JSON.parse(await kubectlOk(["get", kind, "-o", "json"])) as {
        webhooks: { clientConfig: { caBundle?: string } }[];
      };
      assert.deepEqual(
        config.webhooks.map((w) => w.clientConfig.caBundle),
        [bundle],
        kind,
      );
    }
  });

  it("stores a Pod in an injected namespace with the sidecar, the init container and the volumes", async () => {
    await kubectlOk(["apply", "-n", "wh-meshed", "-f", "-"], pod("web"));
    const stored = await getPod("wh-meshed", "web");
    assert.deepEqual(
      stored.spec.containers.map((c) => c.name),
      ["app", "skiff-proxy"],
    );
    assert.deepEqual(
      stored.spec.initContainers?.map((c) => c.name),
      ["skiff-init"],
    );
    for (const volume of ["skiff-bootstrap", "skiff-trust-bundle", "skiff-token"])
      assert.ok(
        stored.spec.volumes?.some((v) => v.name === volume),
        volume,
      );
    assert.equal(stored.metadata.annotations?.["sidecar.skiff.dev/status"], "injected");
  });

  it("passes the Pod's interception annotations to skiff-init, and rejects a malformed one by name", async () => {
    await kubectlOk(
      ["apply", "-n", "wh-meshed", "-f", "-"],
      pod("annotated", { "traffic.skiff.dev/excludeInboundPorts": "8081" }),
    );
    const stored = await getPod("wh-meshed", "annotated");
    const args = stored.spec.initContainers?.[0]?.args ?? [];
    assert.ok(args.join(" ").includes("8081"), args.join(" "));
    const bad = await kubectl(
      ["apply", "-n", "wh-meshed", "-f", "-"],
      pod("bad", { "traffic.skiff.dev/excludeInboundPorts": "eighty" }),
    );
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /traffic\.skiff\.dev\/excludeInboundPorts/);
  });

  it("leaves Pods in an unlabelled namespace, and Pods that opt out, untouched", async () => {
    await kubectlOk(["apply", "-n", "wh-plain", "-f", "-"], pod("web"));
    await kubectlOk(
      ["apply", "-n", "wh-meshed", "-f", "-"],
      pod("opted-out", { "sidecar.skiff.dev/inject": "false" }),
    );
    for (const [ns, name] of [
      ["wh-plain", "web"],
      ["wh-meshed", "opted-out"],
    ] as const) {
      const stored = await getPod(ns, name);
      assert.deepEqual(
        stored.spec.containers.map((c) => c.name),
        ["app"],
        `${ns}/${name}`,
      );
      assert.equal(stored.spec.initContainers, undefined);
    }
  });

  it("never injects twice: re-applying an injected Pod changes nothing", async () => {
    const before = await getPod("wh-meshed", "web");
    await kubectlOk(["apply", "-n", "wh-meshed", "-f", "-"], pod("web"));
    const after = await getPod("wh-meshed", "web");
    assert.deepEqual(
      after.spec.containers.map((c) => c.name),
      before.spec.containers.map((c) => c.name),
    );
    assert.deepEqual(
      after.spec.initContainers?.map((c) => c.name),
      ["skiff-init"],
    );
  });

  it("warns, without rejecting, about a TrafficPolicy that another policy already governs", async () => {
    const policy = (name: string) => `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name} }
spec:
  targetRef: { kind: Service, name: web }
`;
    await kubectlOk(
      ["apply", "-n", "wh-plain", "-f", "-"],
      `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ name: http, port: 80 }] }
`,
    );
    const first = await kubectl(["apply", "-n", "wh-plain", "-f", "-"], policy("first"));
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(first.stderr, /Warning/);
    const second = await kubectl(["apply", "-n", "wh-plain", "-f", "-"], policy("second"));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /Warning: Accepted=False \(Conflicted\)/);
    const ghost = await kubectl(
      ["apply", "-n", "wh-plain", "-f", "-"],
      policy("ghost").replace("name: web", "name: ghost"),
    );
    assert.match(ghost.stderr, /Warning: ResolvedRefs=False \(BackendNotFound\)/);
  });

  it("refuses a TrafficPolicy whose regex RE2 refuses, naming the field, and stores nothing", async () => {
    const refused = await kubectl(
      ["apply", "-n", "wh-plain", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: lookahead }
spec:
  targetRef: { kind: Service, name: web }
  http:
    - match:
        - headers: [{ name: x-user, regex: "(?!admin).*" }]
      route: [{}]
`,
    );
    assert.notEqual(refused.code, 0, "kubectl accepted it");
    assert.match(refused.stderr, /validate\.skiff\.dev/);
    assert.match(refused.stderr, /spec\.http\[0\]\.match\[0\]\.headers\[0\]\.regex: invalid RE2 regex/);
    const stored = await kubectl([
      "get",
      "tp",
      "lookahead",
      "-n",
      "wh-plain",
      "--ignore-not-found",
      "-o",
      "name",
    ]);
    assert.equal(stored.stdout, "");
  });

  it("refuses an AuthorizationPolicy whose when value does not fit its key, naming the field, and stores nothing", async () => {
    // The CRD cannot check values by key within the API server's CEL budget;
    // without the webhook, compile would leave this DENY out and deny nothing.
    const refused = await kubectl(
      ["apply", "-n", "wh-plain", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: named-port }
spec:
  action: DENY
  rules:
    - when:
        - { key: source.namespace, values: [bookinfo] }
        - { key: destination.port, values: ["9080", http] }
`,
    );
    assert.notEqual(refused.code, 0, "kubectl accepted it");
    assert.match(refused.stderr, /validate\.skiff\.dev/);
    assert.match(
      refused.stderr,
      /spec\.rules\[0\]\.when\[1\]\.values\[1\]: must be a port number from 1 to 65535/,
    );
    const stored = await kubectl([
      "get",
      "ap",
      "named-port",
      "-n",
      "wh-plain",
      "--ignore-not-found",
      "-o",
      "name",
    ]);
    assert.equal(stored.stdout, "");
  });

  it("refuses a Mesh whose sidecar memory limit is 0 or 1Ei, or whose Prometheus port is the sidecar's, naming the field, and stores nothing", async () => {
    const field =
      /spec\.injection\.proxy\.resources\.limits\.memory: must be a whole number of bytes from 32Mi/;
    for (const memory of ["0", "1Ei"]) {
      const refused = await kubectl(
        ["apply", "-f", "-"],
        `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: bad-memory }
spec:
  injection:
    proxy:
      resources: { limits: { memory: "${memory}" } }
`,
      );
      assert.notEqual(refused.code, 0, `kubectl accepted a memory limit of ${memory}`);
      assert.match(refused.stderr, /validate\.skiff\.dev/);
      assert.match(refused.stderr, field);
      assert.match(refused.stderr, new RegExp(`not \\\\?"${memory}\\\\?"`));
      // An update to such a limit too.
      const patched = await kubectl([
        "patch",
        "mesh",
        "webhook-test",
        "--type=merge",
        "-p",
        JSON.stringify({ spec: { injection: { proxy: { resources: { limits: { memory } } } } } }),
      ]);
      assert.notEqual(patched.code, 0, `the update to a memory limit of ${memory} was accepted`);
      assert.match(patched.stderr, field);
    }
    // A Prometheus port that is one of the sidecar's own: Envoy refused the bootstrap.
    const port = await kubectl([
      "patch",
      "mesh",
      "webhook-test",
      "--type=merge",
      "-p",
      JSON.stringify({ spec: { observability: { metrics: { prometheusPort: 15021 } } } }),
    ]);
    assert.notEqual(port.code, 0, "the update to prometheusPort 15021 was accepted");
    assert.match(
      port.stderr,
      /spec\.observability\.metrics\.prometheusPort: must not be one of the sidecar's own ports/,
    );
    const stored = await kubectl(["get", "mesh", "bad-memory", "--ignore-not-found", "-o", "name"]);
    assert.equal(stored.stdout, "");
    const mesh = JSON.parse(await kubectlOk(["get", "mesh", "webhook-test", "-o", "json"])) as Mesh;
    assert.equal(mesh.spec?.injection?.proxy?.resources, undefined);
  });

  it("keeps injecting where it did when the Mesh holds a selector that cannot match, and keeps its CA patched in", async () => {
    // Stored under a Mesh CRD without the label rules (see mesh-invalid-selector.test.ts), then upgraded.
    const current = (await readCrds(join(repositoryRoot(), "crds"))).find(
      (c) => c.metadata?.name === "meshes.skiff.dev",
    )!;
    await installCrds(controlPlane().kubeConfig(), [withoutLabelRules(current)]);
    try {
      await eventually(() =>
        kubectlOk([
          "patch",
          "mesh",
          "webhook-test",
          "--type=merge",
          "-p",
          JSON.stringify({
            spec: { injection: { namespaceSelector: { matchLabels: { "not a key": "x" } } } },
          }),
        ]),
      );
    } finally {
      await installCrds(controlPlane().kubeConfig(), [current]);
    }
    try {
      // The configuration keeps the last valid selector, and the webhook keeps its CA in it.
      await kubectlOk([
        "patch",
        "validatingwebhookconfiguration",
        "skiff-validation",
        "--type=json",
        "-p",
        JSON.stringify([{ op: "remove", path: "/webhooks/0/clientConfig/caBundle" }]),
      ]);
      await eventually(async () => {
        const config = JSON.parse(
          await kubectlOk(["get", "validatingwebhookconfiguration", "skiff-validation", "-o", "json"]),
        ) as { webhooks: { clientConfig: { caBundle?: string } }[] };
        assert.ok(config.webhooks[0]!.clientConfig.caBundle, "the CA is patched back in");
      });
      await kubectlOk(["apply", "-n", "wh-meshed", "-f", "-"], pod("while-invalid"));
      const stored = await getPod("wh-meshed", "while-invalid");
      assert.deepEqual(
        stored.spec.containers.map((c) => c.name),
        ["app", "skiff-proxy"],
      );
    } finally {
      await kubectlOk([
        "patch",
        "mesh",
        "webhook-test",
        "--type=json",
        "-p",
        JSON.stringify([{ op: "remove", path: "/spec/injection/namespaceSelector" }]),
      ]);
    }
  });

  it("with the webhook down, failurePolicy decides: Fail refuses Pods, Ignore admits them without a sidecar", async () => {
    await webhook!.stop();
    webhook = undefined;
    const refused = await kubectl(["apply", "-n", "wh-meshed", "-f", "-"], pod("while-down"));
    assert.notEqual(refused.code, 0, "failurePolicy Fail refuses the Pod");
    assert.match(refused.stderr, /inject\.skiff\.dev/);
    await kubectlOk([
      "patch",
      "mutatingwebhookconfiguration",
      "skiff-sidecar-injector",
      "--type=json",
      "-p",
      JSON.stringify([{ op: "replace", path: "/webhooks/0/failurePolicy", value: "Ignore" }]),
    ]);
    await eventually(async () => {
      await kubectlOk(["apply", "-n", "wh-meshed", "-f", "-"], pod("while-down"));
    });
    const stored = await getPod("wh-meshed", "while-down");
    assert.deepEqual(
      stored.spec.containers.map((c) => c.name),
      ["app"],
    );
  });
});
