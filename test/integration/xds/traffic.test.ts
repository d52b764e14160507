import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { pino } from "pino";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { startBackend, runXdsClient, type BackendHandle } from "../../support/grpc/spawn.js";
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

/**
 * An address of this machine that an EndpointSlice may hold: the API server
 * rejects loopback addresses, so backends listen on a real interface.
 */
function hostAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
  if (!address) throw new Error("no non-loopback IPv4 interface: EndpointSlices cannot point at loopback");
  return address;
}
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
      address: "127.0.0.1:0",
      logger: pino({ level: "warn" }),
    });
    xdsAddress = `127.0.0.1:${xds.port}`;
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
    const result = await runXdsClient({
      target: TARGET,
      xdsServer: xdsAddress,
      mode: "calls",
      calls: 1000,
      concurrency: 20,
    });
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
    const testers = await runXdsClient({
      target: TARGET,
      xdsServer: xdsAddress,
      mode: "calls",
      calls: 50,
      metadata: { "x-user": "tester" },
    });
    const others = await runXdsClient({ target: TARGET, xdsServer: xdsAddress, mode: "calls", calls: 50 });
    assert.deepEqual(testers.byBackend, { v3: 50 });
    assert.deepEqual(others.byBackend, { v1: 50 });
  });

  it("retries turn a flaky backend's UNAVAILABLE into success, and without retries half fail", async () => {
    await policy(`  http:
    - name: flaky
      route: [{ subset: flaky }]
      retries: { attempts: 3, retryOn: [unavailable] }`);
    await programmed();
    const retried = await runXdsClient({
      target: TARGET,
      xdsServer: xdsAddress,
      mode: "calls",
      calls: 200,
      concurrency: 1,
    });
    assert.deepEqual(retried.byStatus, { OK: 200 }, JSON.stringify(retried));

    await policy(`  http:
    - name: flaky
      route: [{ subset: flaky }]
      retries: { attempts: 0 }`);
    await programmed();
    const bare = await runXdsClient({
      target: TARGET,
      xdsServer: xdsAddress,
      mode: "calls",
      calls: 200,
      concurrency: 1,
    });
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
    const result = await runXdsClient({
      target: TARGET,
      xdsServer: xdsAddress,
      mode: "calls",
      calls: 1000,
      concurrency: 20,
    });
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
    const limited = await runXdsClient({ target: TARGET, xdsServer: xdsAddress, mode: "calls", calls: 20 });
    assert.deepEqual(limited.byStatus, { DEADLINE_EXCEEDED: 20 }, JSON.stringify(limited));

    await policy(`  http:
    - name: slow
      route: [{ subset: slow }]
      timeout: 5s`);
    await programmed();
    const patient = await runXdsClient({ target: TARGET, xdsServer: xdsAddress, mode: "calls", calls: 20 });
    assert.deepEqual(patient.byStatus, { OK: 20 }, JSON.stringify(patient));
  });
});
