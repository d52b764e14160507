import assert from "node:assert/strict";
import type { IPod } from "kubernetes-models/v1";
import { PodIpAllocator } from "../../../src/localnode/ipam.js";
import { podStatus, type ContainerRecord, type PodRecord } from "../../../src/localnode/pod-status.js";
import { probePlan, ProbeVerdict } from "../../../src/localnode/probes.js";

const container = (name: string, over: Partial<ContainerRecord> = {}): ContainerRecord => ({
  name,
  image: "fortio/fortio",
  runToCompletion: false,
  sidecar: false,
  state: { running: { startedAt: "t0" } },
  restartCount: 0,
  ready: true,
  started: true,
  completed: false,
  ...over,
});
const pod: IPod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [] } };
const record = (over: Partial<PodRecord>): PodRecord => ({
  podIP: "10.244.0.2",
  hostIP: "10.244.0.1",
  startTime: "t0",
  initContainers: [],
  containers: [container("app")],
  transitions: new Map(),
  now: "t1",
  ...over,
});

describe("local node pod status", () => {
  it("is Running and Ready when every container is ready", () => {
    const status = podStatus(pod, record({}));
    assert.equal(status.phase, "Running");
    assert.equal(status.podIP, "10.244.0.2");
    assert.equal(status.conditions?.find((c) => c.type === "Ready")?.status, "True");
  });

  it("is Pending until init containers complete, and not Ready while one container is not", () => {
    const r = record({
      initContainers: [container("init", { runToCompletion: true, state: { running: { startedAt: "t0" } } })],
      containers: [container("app", { ready: false, state: { waiting: { reason: "PodInitializing" } } })],
    });
    const status = podStatus(pod, r);
    assert.equal(status.phase, "Pending");
    assert.equal(status.conditions?.find((c) => c.type === "Initialized")?.status, "False");
    assert.equal(status.conditions?.find((c) => c.type === "Ready")?.reason, "ContainersNotReady");
  });

  it("keeps lastTransitionTime until a condition flips", () => {
    const transitions = new Map();
    podStatus(pod, record({ transitions, now: "t1" }));
    const again = podStatus(pod, record({ transitions, now: "t2" }));
    assert.equal(again.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime, "t1");
    const flipped = podStatus(
      pod,
      record({ transitions, now: "t3", containers: [container("app", { ready: false })] }),
    );
    assert.equal(flipped.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime, "t3");
  });

  it("ends Succeeded or Failed under restartPolicy Never", () => {
    const never: IPod = { ...pod, spec: { containers: [], restartPolicy: "Never" } };
    const done = (exitCode: number) =>
      record({ containers: [container("app", { ready: false, state: { terminated: { exitCode } } })] });
    assert.equal(podStatus(never, done(0)).phase, "Succeeded");
    assert.equal(podStatus(never, done(3)).phase, "Failed");
  });
});

describe("local node probes", () => {
  it("reads a probe with the kubelet's defaults and named ports", () => {
    const plan = probePlan(
      { name: "c", ports: [{ name: "http", containerPort: 8080 }] },
      { httpGet: { path: "/ready", port: "http" } },
    );
    assert.deepEqual(plan.check, {
      type: "http",
      request: { type: "http", port: 8080, path: "/ready", scheme: "HTTP", headers: [], timeoutMs: 1000 },
    });
    assert.equal(plan.periodMs, 10_000);
    assert.equal(probePlan({ name: "c" }, { tcpSocket: { port: "nope" } }).check.type, "unsupported");
  });

  it("flips only after the thresholds", () => {
    const verdict = new ProbeVerdict({ successThreshold: 2, failureThreshold: 3 });
    assert.equal(verdict.record(true), false);
    assert.equal(verdict.record(true), true);
    assert.equal(verdict.value, true);
    verdict.record(false);
    verdict.record(false);
    assert.equal(verdict.value, true);
    assert.equal(verdict.record(false), true);
    assert.equal(verdict.value, false);
  });
});

describe("local node IPs", () => {
  it("hands out addresses after the gateway, reuses released ones, and says when full", () => {
    const ips = new PodIpAllocator("10.9.0.0/30");
    assert.equal(ips.gateway, "10.9.0.1");
    assert.equal(ips.allocate(), "10.9.0.2");
    assert.throws(() => ips.allocate(), /no free address/);
    ips.release("10.9.0.2");
    assert.equal(ips.allocate(), "10.9.0.2");
    assert.throws(() => new PodIpAllocator("10.0.0.0/33"));
  });

  it("hands out addresses in turn, so a freed one is not reused while others are free (as host-local IPAM does)", () => {
    const ips = new PodIpAllocator("10.9.0.0/29"); // usable: .2 to .6
    assert.deepEqual([ips.allocate(), ips.allocate()], ["10.9.0.2", "10.9.0.3"]);
    ips.release("10.9.0.3");
    // Lowest first would give .3 again, whose old owner peers still hold in their caches.
    assert.deepEqual([ips.allocate(), ips.allocate(), ips.allocate()], ["10.9.0.4", "10.9.0.5", "10.9.0.6"]);
    // Past the end it wraps, skipping what is in use.
    assert.equal(ips.allocate(), "10.9.0.3");
    assert.throws(() => ips.allocate(), /no free address/);
  });
});
