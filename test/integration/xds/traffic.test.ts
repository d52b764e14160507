import assert from "node:assert/strict";
import { pino } from "pino";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import type { ProxyNode } from "../../../src/xds/cache/snapshot.js";
import { registry } from "../../../src/observability/metrics.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import {
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  LISTENER_TYPE,
  messageName,
  ROUTE_TYPE,
} from "../../../src/xds/translate/resource.js";
import { DeltaClient, SotwClient } from "../../support/ads-client.js";
import { envoyViolationsOfMany } from "../../support/envoy-validator.js";
import {
  startBackend,
  runXdsClient,
  startXdsClient,
  type BackendHandle,
  type CallsResult,
} from "../../support/grpc/spawn.js";
import { hostAddress } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

/**
 * Traffic end to end: real proxyless gRPC clients (@grpc/grpc-js-xds, in
 * child processes) get their configuration from Skiff's xDS server, which
 * runs on state from the real API server, and call real gRPC backends.
 */
const NS = "e2e-traffic";
const TARGET = `xds:///reviews.${NS}.svc.cluster.local:9080`;
const BACKENDS = ["v1", "v2", "v3", "flaky", "slow"] as const;

const HOST = hostAddress();

/** The backends: each is one endpoint of reviews, in its own EndpointSlice because each listens on its own port. */
function endpointSlice(backend: BackendHandle): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-${backend.name}
  namespace: ${NS}
  labels: { kubernetes.io/service-name: reviews }
addressType: IPv4
ports: [{ name: grpc, port: ${backend.port}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
    targetRef: { kind: Pod, name: reviews-${backend.name}, namespace: ${NS} }
---
apiVersion: v1
kind: Pod
metadata: { name: reviews-${backend.name}, namespace: ${NS}, labels: { app: reviews, version: ${backend.name} } }
spec: { containers: [{ name: app, image: reviews }] }
`;
}

/** Runs a proxyless gRPC client that makes calls to reviews through Skiff's xDS server. */
let calls: (spec: {
  calls: number;
  concurrency?: number;
  metadata?: Record<string, string>;
  nodeId?: string;
}) => Promise<CallsResult>;

function policy(spec: string): Promise<string> {
  return kubectlOk(
    ["apply", "-f", "-"],
    `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: reviews }
  subsets:
${BACKENDS.map((b) => `    - { name: ${b}, labels: { version: ${b} } }`).join("\n")}
${spec}
`,
  );
}

/** Waits until the xDS server has compiled this generation of the policy. */
async function programmed(): Promise<void> {
  await eventually(async () => {
    const tp = JSON.parse(await kubectlOk(["get", "tp", "reviews", "-n", NS, "-o", "json"]));
    const condition = tp.status?.conditions?.find((c: { type: string }) => c.type === "Programmed");
    assert.equal(tp.status?.observedGeneration, tp.metadata.generation);
    assert.equal(condition?.status, "True", JSON.stringify(tp.status));
  });
}

describe("traffic through Skiff's xDS server, with real proxyless gRPC clients", function () {
  this.timeout(180_000);
  let xds: RunningXdsServer;
  const backends = new Map<string, BackendHandle>();
  let xdsAddress: string;

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: ${NS} }
spec:
  selector: { app: reviews }
  ports: [{ name: grpc, port: 9080, appProtocol: grpc }]
`,
    );
    for (const name of BACKENDS) backends.set(name, await startBackend(name, { address: `${HOST}:0` }));
    await backends.get("flaky")!.configure({ failRatio: 0.5 });
    await backends.get("slow")!.configure({ delayMs: 400 });
    await kubectlOk(["apply", "-f", "-"], [...backends.values()].map(endpointSlice).join("---\n"));
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      caNamespace: NS,
      logger: pino({ level: "warn" }),
    });
    xdsAddress = `127.0.0.1:${xds.port}`;
    calls = (spec) => runXdsClient({ target: TARGET, xdsServer: xdsAddress, mode: "calls", ...spec });
  });

  after(async () => {
    try {
      await xds?.stop();
    } finally {
      await Promise.all([...backends.values()].map((b) => b.stop()));
      await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
    }
  });

  it("splits 1000 RPCs 90/10 between two subsets, within statistical tolerance", async () => {
    await policy(`  http:
    - name: canary
      route: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]`);
    await programmed();
    const result = await calls({ calls: 1000, concurrency: 20 });
    assert.equal(result.byStatus.OK, 1000, JSON.stringify(result));
    const v2 = result.byBackend.v2 ?? 0;
    // Binomial(1000, 0.1): mean 100, sd 9.5; five sd either side.
    assert.ok(v2 >= 53 && v2 <= 147, `v2 got ${v2} of 1000`);
    assert.equal((result.byBackend.v1 ?? 0) + v2, 1000, JSON.stringify(result.byBackend));
  });

  it("routes on a header: testers to v3, everyone else to v1", async () => {
    await policy(`  http:
    - name: testers
      match: [{ headers: [{ name: x-user, exact: tester }] }]
      route: [{ subset: v3 }]
    - name: everyone
      route: [{ subset: v1 }]`);
    await programmed();
    const testers = await calls({ calls: 50, metadata: { "x-user": "tester" } });
    const others = await calls({ calls: 50 });
    assert.deepEqual(testers.byBackend, { v3: 50 });
    assert.deepEqual(others.byBackend, { v1: 50 });
  });

  it("retries turn a flaky backend's UNAVAILABLE into success, and without retries half fail", async () => {
    await policy(`  http:
    - name: flaky
      route: [{ subset: flaky }]
      retries: { attempts: 3, retryOn: [unavailable] }`);
    await programmed();
    const retried = await calls({ calls: 200, concurrency: 1 });
    assert.deepEqual(retried.byStatus, { OK: 200 }, JSON.stringify(retried));

    await policy(`  http:
    - name: flaky
      route: [{ subset: flaky }]
      retries: { attempts: 0 }`);
    await programmed();
    const bare = await calls({ calls: 200, concurrency: 1 });
    assert.ok((bare.byStatus.UNAVAILABLE ?? 0) >= 80, JSON.stringify(bare.byStatus));
  });

  it("injects aborts at the configured percentage", async () => {
    await policy(`  http:
    - name: faulty
      route: [{ subset: v1 }]
      retries: { attempts: 0 }
      fault:
        abort: { grpcStatus: UNAVAILABLE, percent: 30 }`);
    await programmed();
    const result = await calls({ calls: 1000, concurrency: 20 });
    const aborted = result.byStatus.UNAVAILABLE ?? 0;
    // Binomial(1000, 0.3): mean 300, sd 14.5; five sd either side.
    assert.ok(
      aborted >= 228 && aborted <= 372,
      `aborted ${aborted} of 1000: ${JSON.stringify(result.byStatus)}`,
    );
    assert.equal(aborted + (result.byStatus.OK ?? 0), 1000);
  });

  it("enforces the route timeout", async () => {
    await policy(`  http:
    - name: slow
      route: [{ subset: slow }]
      timeout: 100ms
      retries: { attempts: 0 }`);
    await programmed();
    const limited = await calls({ calls: 20 });
    assert.deepEqual(limited.byStatus, { DEADLINE_EXCEEDED: 20 }, JSON.stringify(limited));

    await policy(`  http:
    - name: slow
      route: [{ subset: slow }]
      timeout: 5s`);
    await programmed();
    const patient = await calls({ calls: 20 });
    assert.deepEqual(patient.byStatus, { OK: 20 }, JSON.stringify(patient));
  });

  it("takes an endpoint removal and addition to connected clients, and measures how long it takes", async () => {
    await policy(`  http:
    - name: all
      route: [{}]`);
    await programmed();
    const measure = async (change: () => Promise<unknown>, expect: string[]) => {
      const client = startXdsClient({
        target: TARGET,
        xdsServer: xdsAddress,
        mode: "until",
        expectBackends: expect,
        timeoutMs: 30_000,
      });
      assert.ok((await client.ready).ready, "the client got its configuration");
      const written = Date.now();
      await change();
      const result = await client.result;
      return result.convergedAtEpochMs - written;
    };
    const removal = await measure(
      () => kubectlOk(["delete", "endpointslice", "-n", NS, "reviews-flaky", "reviews-slow", "reviews-v3"]),
      ["v1", "v2"],
    );
    const addition = await measure(
      () => kubectlOk(["apply", "-f", "-"], endpointSlice(backends.get("v3")!)),
      ["v1", "v2", "v3"],
    );
    console.log(
      `      EndpointSlice change to a client's traffic: removal ${removal} ms, addition ${addition} ms`,
    );
    assert.ok(removal < 10_000 && addition < 10_000, `removal ${removal} ms, addition ${addition} ms`);
    const convergence = await registry.getSingleMetric("skiff_xds_convergence_seconds")!.get();
    const values = convergence.values as { metricName?: string; value: number }[];
    const total = (suffix: string) =>
      values.find((v) => v.metricName === `skiff_xds_convergence_seconds_${suffix}`)?.value ?? 0;
    assert.ok(total("count") > 0, "convergence to the last ACK was measured");
    console.log(
      `      change seen by the xDS server to the last proxy's ACK: mean ${((1000 * total("sum")) / total("count")).toFixed(0)} ms over ${total("count")} generations`,
    );
  });

  it("serves delta ADS: a change sends only the resources that changed", async () => {
    await policy(`  http:
    - name: all
      route: [{}]`);
    await programmed();
    const proxy = new DeltaClient(xdsAddress, { id: `sidecar~10.9.0.1~probe.${NS}~${NS}.svc.cluster.local` });
    try {
      proxy.request({ typeUrl: CLUSTER_TYPE, subscribe: ["*"] });
      const clusters = await proxy.next();
      assert.ok(
        clusters.names.includes(`outbound|9080|v1|reviews.${NS}.svc.cluster.local`),
        clusters.names.join(),
      );
      proxy.ack(clusters);
      proxy.request({
        typeUrl: ENDPOINT_TYPE,
        subscribe: clusters.names.filter((n) => n.startsWith("outbound|")),
      });
      const endpoints = await proxy.next();
      proxy.ack(endpoints);
      await kubectlOk(["delete", "endpointslice", "-n", NS, "reviews-v2"]);
      const change = await proxy.next();
      assert.equal(change.typeUrl, ENDPOINT_TYPE);
      assert.deepEqual(
        [...change.names].sort(),
        [
          `outbound|9080||reviews.${NS}.svc.cluster.local`,
          `outbound|9080|v2|reviews.${NS}.svc.cluster.local`,
        ].sort(),
        "only the whole-Service and v2 assignments changed",
      );
      proxy.ack(change);
    } finally {
      proxy.close();
      await kubectlOk(["apply", "-f", "-"], endpointSlice(backends.get("v2")!));
    }
  });

  it("encodes each resource version once, however many proxies connect", async () => {
    const encodes = async () =>
      (await registry.getSingleMetric("skiff_xds_resource_encodes_total")!.get()).values.reduce(
        (a, v) => a + v.value,
        0,
      );
    const before = await encodes();
    const results = await Promise.all([1, 2, 3].map((i) => calls({ calls: 10, nodeId: `grpc~fanout-${i}` })));
    for (const r of results) assert.equal(r.byStatus.OK, 10, JSON.stringify(r));
    assert.equal(await encodes(), before, "three more proxies caused no encode");
  });

  it("passes Envoy's proto validation on a live snapshot", () => {
    const nodes: ProxyNode[] = [
      { id: `sidecar~10.9.0.2~reviews-v1.${NS}~${NS}.svc.cluster.local`, cluster: "", metadata: {} },
      { id: "grpc~validator", cluster: "", metadata: { GENERATOR: "grpc" } },
    ];
    const items = nodes.flatMap((node) =>
      [...xds.pipeline.snapshots.snapshotFor(node).resources.values()].flatMap((byName) =>
        [...byName.values()].map((r) => {
          const type = messageName(r.typeUrl);
          return {
            label: `${node.id} ${r.name}`,
            typeName: type,
            json: JSON.stringify(messageToJson(type, decodeMessage(type, r.bytes))),
          };
        }),
      ),
    );
    assert.ok(items.length >= 20, `${items.length} resources`);
    assert.deepEqual(envoyViolationsOfMany(items), []);
  });

  it("reports a missing target and a conflict in status, and leaves the governing policy alone", async () => {
    const apply = (name: string, target: string) =>
      kubectlOk(
        ["apply", "-f", "-"],
        `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: ${target} }
`,
      );
    await apply("ghost", "ghost");
    await apply("reviews-latecomer", "reviews");
    const condition = async (name: string, type: string) => {
      const tp = JSON.parse(await kubectlOk(["get", "tp", name, "-n", NS, "-o", "json"]));
      return tp.status?.conditions?.find((c: { type: string }) => c.type === type);
    };
    await eventually(async () => {
      const refs = await condition("ghost", "ResolvedRefs");
      assert.deepEqual([refs?.status, refs?.reason], ["False", "BackendNotFound"]);
      // No proxy configuration carries it, so it must not read as programmed.
      const programmed = await condition("ghost", "Programmed");
      assert.deepEqual([programmed?.status, programmed?.reason], ["False", "TargetNotFound"]);
      const accepted = await condition("reviews-latecomer", "Accepted");
      assert.deepEqual([accepted?.status, accepted?.reason], ["False", "Conflicted"]);
      assert.match(accepted.message, /reviews/);
    });
    assert.equal((await condition("reviews", "Accepted"))?.status, "True");
    const result = await calls({ calls: 20 });
    assert.equal(result.byStatus.OK, 20, "the governing policy still routes");
    await kubectlOk(["delete", "tp", "-n", NS, "ghost", "reviews-latecomer"]);
  });

  it("reports a proxy's NACK as Programmed=False/Nacked, and other proxies keep working", async () => {
    const proxy = new SotwClient(xdsAddress, { id: "grpc~nacker", metadata: { GENERATOR: "grpc" } });
    try {
      proxy.request({ typeUrl: LISTENER_TYPE, resourceNames: [`reviews.${NS}.svc.cluster.local:9080`] });
      proxy.ack(await proxy.next());
      proxy.request({ typeUrl: ROUTE_TYPE, resourceNames: [`reviews.${NS}.svc.cluster.local:9080`] });
      proxy.ack(await proxy.next());
      await policy(`  http:
    - name: all
      route: [{}]
      timeout: 3s`);
      const routes = await proxy.next();
      proxy.nack(routes, "route rejected by the test proxy");
      await eventually(async () => {
        const tp = JSON.parse(await kubectlOk(["get", "tp", "reviews", "-n", NS, "-o", "json"]));
        const programmedCondition = tp.status?.conditions?.find(
          (c: { type: string }) => c.type === "Programmed",
        );
        assert.equal(programmedCondition?.reason, "Nacked", JSON.stringify(tp.status));
        assert.match(programmedCondition.message, /route rejected by the test proxy/);
        assert.equal(tp.status.proxies.nacked, 1);
      });
      const others = await calls({ calls: 20 });
      assert.equal(others.byStatus.OK, 20, "another proxy is not disturbed by the NACK");
    } finally {
      proxy.close();
    }
    await programmed();
  });

  it("marks a policy change Programmed once a connected proxy has ACKed it, and measures how long it takes", async () => {
    const proxy = new SotwClient(xdsAddress, { id: "grpc~acker", metadata: { GENERATOR: "grpc" } });
    const name = `reviews.${NS}.svc.cluster.local:9080`;
    let acking = true;
    try {
      proxy.request({ typeUrl: LISTENER_TYPE, resourceNames: [name] });
      proxy.ack(await proxy.next());
      proxy.request({ typeUrl: ROUTE_TYPE, resourceNames: [name] });
      // ACK everything, as a healthy proxy does.
      const acker = (async () => {
        while (acking) proxy.ack(await proxy.next(60_000));
      })().catch(() => {});
      const written = Date.now();
      await policy(`  http:
    - name: all
      route: [{}]
      timeout: 4s`);
      await eventually(async () => {
        const tp = JSON.parse(await kubectlOk(["get", "tp", "reviews", "-n", NS, "-o", "json"]));
        const condition = tp.status?.conditions?.find((c: { type: string }) => c.type === "Programmed");
        assert.equal(tp.status?.observedGeneration, tp.metadata.generation);
        assert.equal(condition?.status, "True", JSON.stringify(tp.status));
        assert.deepEqual([tp.status.proxies.targeted, tp.status.proxies.acked], [1, 1]);
      }, 30_000);
      console.log(`      TrafficPolicy change to Programmed (one proxy ACKed): ${Date.now() - written} ms`);
      acking = false;
      void acker;
    } finally {
      acking = false;
      proxy.close();
    }
  });

  it("writes PeerAuthentication and AuthorizationPolicy status too", async () => {
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: default, namespace: ${NS} }
spec:
  mtls: { mode: STRICT }
---
apiVersion: skiff.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: reviews-viewer, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: reviews } }
  rules:
    - from: [{ source: { principals: ["cluster.local/ns/${NS}/sa/productpage"] } }]
`,
    );
    await eventually(async () => {
      for (const kind of ["pa/default", "ap/reviews-viewer"]) {
        const policy = JSON.parse(await kubectlOk(["get", kind, "-n", NS, "-o", "json"]));
        assert.equal(policy.status?.observedGeneration, policy.metadata.generation, kind);
        const accepted = policy.status.conditions.find((c: { type: string }) => c.type === "Accepted");
        assert.equal(accepted?.status, "True", `${kind}: ${JSON.stringify(policy.status)}`);
        // No Mesh selects this namespace for injection, so no workload runs a sidecar here.
        assert.equal(policy.status.workloads, 0, kind);
      }
      const ap = JSON.parse(await kubectlOk(["get", "ap", "reviews-viewer", "-n", NS, "-o", "json"]));
      const programmed = ap.status.conditions.find((c: { type: string }) => c.type === "Programmed");
      assert.equal(programmed?.status, "True", JSON.stringify(ap.status));
    });
  });
});
