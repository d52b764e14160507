import assert from "node:assert/strict";
import type { IPod, IProbe } from "kubernetes-models/v1";
import { INJECT_ANNOTATION, REWRITE_PROBES_ANNOTATION } from "../../src/mesh/annotations.js";
import {
  apply,
  clientPod,
  condition,
  curl,
  deleteNamespace,
  fortioDeployment,
  meshCluster,
  meshNamespace,
  podByPrefix,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  type PodObject,
} from "./kit.js";

/**
 * Probes under STRICT mTLS on the local node, whose kubelet probes from the
 * node's network in plaintext as a real one does. The injector rewrites the
 * HTTP and TCP readiness probes to the sidecar agent's
 * /app-health/<container>/readyz on 15020, and the agent makes the original
 * probe on the Pod's loopback, so the Pods become Ready, while the same
 * plaintext path from outside the Pod is refused by the sidecar.
 */
const NS = "e2e-probes-strict";

/** A fortio Deployment (container "app", port "http" 8080) with its readiness probe replaced. */
function probed(name: string, readinessProbe: IProbe, annotations: Record<string, string> = {}): object {
  const deployment = fortioDeployment(NS, name, { annotations }) as {
    spec: { template: { spec: { containers: { readinessProbe?: IProbe }[] } } };
  };
  deployment.spec.template.spec.containers[0]!.readinessProbe = readinessProbe;
  return deployment;
}

const HTTP_PROBE: IProbe = { httpGet: { path: "/fortio/", port: "http" }, periodSeconds: 1 };
const TCP_PROBE: IProbe = { tcpSocket: { port: "http" }, periodSeconds: 1 };

const ready = (pod: PodObject) => condition(pod, "Ready") === "True";
const proxyReady = (pod: PodObject) =>
  pod.status?.containerStatuses?.some((c) => c.name === "skiff-proxy" && c.ready) === true;

/** The Pod's spec as stored (after injection). */
async function podSpec(prefix: string): Promise<IPod> {
  const pod = await podByPrefix(NS, prefix);
  return rest().request<IPod>("GET", `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}`);
}

/** What the outsider (no sidecar, so plaintext from off the Pod, as the kubelet) gets from a Pod. */
async function fromOutsider(
  prefix: string,
  port: number,
  path: string,
): Promise<{ status: number; body: string }> {
  const ip = (await podByPrefix(NS, prefix)).status?.podIP;
  assert.ok(ip, `${prefix} has an IP`);
  const [response] = await curl(NS, "outsider", `http://${ip}:${port}${path}`);
  return response!;
}

/** Asks the outsider until a Pod's 8080 refuses it (curl sees no HTTP answer), for at most a minute. */
async function untilRefused(prefix: string): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await fromOutsider(prefix, 8080, "/fortio/");
    if (response.status === 0 || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe("probes under STRICT mTLS, made by the sidecar agent", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    // STRICT before any Pod, so that no sidecar here ever runs another mode.
    await apply([
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "PeerAuthentication",
        metadata: { name: "default", namespace: NS },
        spec: { mtls: { mode: "STRICT" } },
      },
    ]);
    // Accepted is written by the xDS server, so it has the policy before any sidecar here asks.
    // (Programmed is not: with no workload yet, no proxy enforces it.)
    await waitFor(
      meshCluster().kubeConfig,
      "skiff.dev/v1alpha1",
      "PeerAuthentication",
      NS,
      (policies) => policies.some((p) => condition(p, "Accepted") === "True"),
      120_000,
      "the STRICT PeerAuthentication Accepted",
    );
    const names = ["http-probed", "tcp-probed", "unrewritten"];
    await apply([
      probed("http-probed", HTTP_PROBE),
      probed("tcp-probed", TCP_PROBE),
      probed("unrewritten", HTTP_PROBE, { [REWRITE_PROBES_ANNOTATION]: "false" }),
      // A Service on each, so that STRICT applies to 8080 (ports no Service targets pass through).
      ...names.map((name) => service(NS, name, [{ name: "http", port: 8080 }])),
      clientPod(NS, "outsider", { [INJECT_ANNOTATION]: "false" }),
    ]);
    const pod = (pods: PodObject[], prefix: string) => pods.find((p) => p.metadata.name.startsWith(prefix));
    await waitFor<PodObject>(
      meshCluster().kubeConfig,
      "v1",
      "Pod",
      NS,
      (pods) =>
        ["http-probed-", "tcp-probed-", "outsider"].every((prefix) => {
          const p = pod(pods, prefix);
          return p !== undefined && ready(p);
        }) && pods.some((p) => p.metadata.name.startsWith("unrewritten-") && proxyReady(p)),
      180_000,
      "the rewritten Pods and the outsider Ready, the unrewritten Pod's sidecar ready",
    );
  });
  after(() => deleteNamespace(NS));

  it("rewrites the HTTP and TCP readiness probes to the agent, and hands it the originals", async () => {
    for (const prefix of ["http-probed-", "tcp-probed-"]) {
      const spec = (await podSpec(prefix)).spec!;
      assert.deepEqual(spec.containers[0]!.readinessProbe, {
        httpGet: { path: "/app-health/app/readyz", port: 15020, scheme: "HTTP" },
        periodSeconds: 1,
        // Defaults the API server filled in, kept by the rewrite.
        timeoutSeconds: 1,
        successThreshold: 1,
        failureThreshold: 3,
      });
    }
    const proxy = (await podSpec("tcp-probed-")).spec!.containers.find((c) => c.name === "skiff-proxy")!;
    const probers = proxy.env!.find((e) => e.name === "SKIFF_APP_PROBERS")!.value!;
    assert.deepEqual(JSON.parse(probers), {
      "/app-health/app/readyz": { tcpSocket: { port: 8080 }, timeoutSeconds: 1 },
    });
  });

  it("under STRICT the kubelet's plaintext path is refused, and its rewritten probe passes through the agent", async () => {
    for (const prefix of ["http-probed-", "tcp-probed-"]) {
      // STRICT covers a port once the Pod is a ready endpoint of its Service (before, the port passes through).
      const refused = await untilRefused(prefix);
      assert.equal(refused.status, 0, `${prefix}: ${JSON.stringify(refused)}`);
      // What the kubelet's probe now asks, from off the Pod in plaintext as the kubelet: the agent answers it.
      const probe = await fromOutsider(prefix, 15020, "/app-health/app/readyz");
      assert.equal(probe.status, 200, `${prefix}: ${JSON.stringify(probe)}`);
      assert.ok(ready(await podByPrefix(NS, prefix)), `${prefix} is Ready`);
    }
    // Only the probes the injector handed over.
    assert.equal((await fromOutsider("http-probed-", 15020, "/app-health/app/livez")).status, 404);
  });

  it('with rewriteAppHTTPProbers: "false" keeps the probe as written, on the path STRICT refuses', async () => {
    const spec = (await podSpec("unrewritten-")).spec!;
    assert.deepEqual(spec.containers[0]!.readinessProbe!.httpGet, {
      path: "/fortio/",
      port: "http",
      scheme: "HTTP",
    });
    const proxy = spec.containers.find((c) => c.name === "skiff-proxy")!;
    assert.equal(
      proxy.env!.some((e) => e.name === "SKIFF_APP_PROBERS"),
      false,
    );
    // Its readiness is not asserted: while it is not a ready endpoint its port
    // passes through in plaintext (the gap in inbound.ts), so it flaps.
  });
});
