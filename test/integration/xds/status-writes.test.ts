import assert from "node:assert/strict";
import { pino } from "pino";
import { findCondition, type Condition } from "../../../src/k8s/conditions.js";
import { Informer } from "../../../src/k8s/informer.js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE } from "../../../src/xds/translate/resource.js";
import { hostPortName, outboundClusterName } from "../../../src/xds/translate/names.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

/**
 * How many status writes the xDS server makes, counted on a watch of the
 * real API server: none for an endpoint change (it changes no policy's
 * conditions), and one, not two, for a new policy whose proxies ACK it
 * within a second. The proxy here is slow on purpose: it answers each
 * response 300 ms late, so a writer that wrote what it saw while the
 * proxy was taking a push would be caught.
 */
const NS = "status-writes";
const ANSWER_DELAY_MS = 300;

type Policy = {
  metadata: { name?: string; generation?: number; resourceVersion?: string };
  status?: { conditions?: Condition[] };
};

const holds = (policy: Policy, type: string) => {
  const condition = findCondition(policy.status?.conditions, type);
  return condition?.status === "True" && condition.observedGeneration === policy.metadata.generation;
};

function service(name: string, address: string): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec: { ports: [{ name: http, port: 80, appProtocol: http }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: ${NS}
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints: [{ addresses: [${address}], conditions: { ready: true } }]
`;
}

function trafficPolicy(name: string, timeout: string): string {
  return `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: ${name} }
  http: [{ name: all, route: [{}], timeout: ${timeout} }]
`;
}

describe("policy status writes of the xDS server, counted on the API server's watch", function () {
  this.timeout(120_000);
  let xds: RunningXdsServer;
  let proxy: SotwClient;
  let watch: Informer<Policy & { apiVersion: string; kind: string }>;
  let answering = true;
  /** Every update of a policy in the namespace, in order (the create is not one). */
  const updates: Policy[] = [];
  /** The EDS responses the proxy received, as text, to see an endpoint change arrive. */
  const endpointResponses: string[] = [];
  /** The types the proxy has ACKed a response of. */
  const ackedTypes = new Set<string>();

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(
      ["apply", "-f", "-"],
      [service("alpha", "10.9.0.1"), service("beta", "10.9.0.2")].join("---\n"),
    );
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      caNamespace: NS,
      logger: pino({ level: "warn" }),
      // Longer than the late proxy can take on the busiest machine, so "one write" does not depend on its speed.
      statusPendingHoldMs: 60_000,
    });
    watch = new Informer(controlPlane().kubeConfig(), "skiff.dev/v1alpha1", "TrafficPolicy", {
      namespace: NS,
    });
    watch.on((event) => {
      if (event.type === "update") updates.push(event.object);
    });
    await watch.start();
    // A sidecar that takes every cluster (wildcard) and both Services' routes and endpoints, and answers late.
    proxy = new SotwClient(`127.0.0.1:${xds.port}`, {
      id: `sidecar~10.9.0.9~client.${NS}~${NS}.svc.cluster.local`,
    });
    proxy.request({ typeUrl: CLUSTER_TYPE });
    const hostnames = ["alpha", "beta"].map((name) => `${name}.${NS}.svc.cluster.local`);
    proxy.request({ typeUrl: ROUTE_TYPE, resourceNames: hostnames.map((h) => hostPortName(h, 80)) });
    proxy.request({
      typeUrl: ENDPOINT_TYPE,
      resourceNames: hostnames.map((h) => outboundClusterName(80, undefined, h)),
    });
    void (async () => {
      while (answering) {
        const response = await proxy.next(60_000);
        if (response.typeUrl === ENDPOINT_TYPE)
          endpointResponses.push(
            response.resources.map((r) => Buffer.from(r.value).toString("latin1")).join(),
          );
        await new Promise((resolve) => setTimeout(resolve, ANSWER_DELAY_MS));
        if (!answering) break;
        proxy.ack(response);
        ackedTypes.add(response.typeUrl);
      }
    })().catch(() => {});
    // The proxy runs its first configuration before any policy exists: one created while it is still
    // taking that would rightly go from "no proxy" to Pending to Programmed as the proxy is counted.
    await eventually(async () => assert.equal(ackedTypes.size, 3, [...ackedTypes].join()));
  });

  after(async () => {
    answering = false;
    proxy?.close();
    watch?.stop();
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("writes a new policy's Accepted and Programmed=True in one write when its proxy ACKs within the hold", async () => {
    await kubectlOk(["apply", "-f", "-"], trafficPolicy("alpha", "3s"));
    await eventually(async () => {
      const last = updates.filter((u) => u.metadata.name === "alpha").at(-1);
      assert.ok(last && holds(last, "Programmed"), JSON.stringify(last?.status));
    });
    const writes = updates.filter((u) => u.metadata.name === "alpha");
    assert.equal(writes.length, 1, JSON.stringify(writes.map((w) => w.status)));
    assert.ok(holds(writes[0]!, "Accepted"));
  });

  it("writes no policy's status for endpoint changes, though its proxy takes each push 300 ms late", async () => {
    await kubectlOk(["apply", "-f", "-"], trafficPolicy("beta", "3s"));
    await eventually(async () => {
      const beta = watch.get(NS, "beta");
      assert.ok(beta && holds(beta, "Programmed") && holds(watch.get(NS, "alpha")!, "Programmed"));
    });
    const before = updates.length;
    for (const address of ["10.9.1.1", "10.9.1.2", "10.9.1.3"]) {
      await kubectlOk(["apply", "-f", "-"], service("alpha", address));
      // The push reached the proxy: the pipeline ran and the proxy is taking it.
      await eventually(async () =>
        assert.ok(
          endpointResponses.some((r) => r.includes(address)),
          address,
        ),
      );
      // Past the proxy's answer, the writer's coalescing and any hold.
      await new Promise((resolve) => setTimeout(resolve, ANSWER_DELAY_MS + 1500));
    }
    assert.deepEqual(
      updates.slice(before).map((u) => [u.metadata.name, u.status]),
      [],
      "an endpoint change wrote policy status",
    );
  });
});
