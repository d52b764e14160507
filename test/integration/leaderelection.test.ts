import assert from "node:assert/strict";
import { LeaderElector } from "../../src/k8s/leaderelection.js";
import { RestClient } from "../../src/k8s/rest.js";
import { controlPlane } from "./controlplane.fixture.js";
import { eventually } from "./kubectl.js";

describe("leader election on a Lease", () => {
  const electors: LeaderElector[] = [];
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  function candidate(name: string, identity: string, log: string[]): LeaderElector {
    const elector = new LeaderElector(controlPlane().kubeConfig(), {
      namespace: "default",
      name,
      identity,
      // Short, for a quick test, but with room for a slow API server on a busy 2-core machine.
      leaseDurationMs: 2_000,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 150,
      onStartedLeading: () => log.push(`${identity} leads`),
      onStoppedLeading: () => log.push(`${identity} stops`),
    });
    electors.push(elector);
    return elector;
  }

  it("elects exactly one of several candidates and keeps it while it renews", async () => {
    const log: string[] = [];
    const candidates = ["a", "b", "c"].map((id) => candidate("one-leader", id, log));
    candidates.forEach((c) => c.start());
    await eventually(async () => assert.equal(candidates.filter((c) => c.isLeader).length, 1), 10_000);
    await new Promise((r) => setTimeout(r, 4_500)); // more than two lease durations
    assert.equal(candidates.filter((c) => c.isLeader).length, 1);
    assert.equal(log.length, 1, `leadership changed hands: ${log.join(", ")}`);

    const lease = await new RestClient(controlPlane().kubeConfig()).request<{
      spec: { holderIdentity: string; leaseDurationSeconds: number };
    }>("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/one-leader");
    assert.equal(lease.spec.holderIdentity, log[0]!.split(" ")[0]);
    assert.equal(lease.spec.leaseDurationSeconds, 2);
  });

  it("hands over promptly when the leader stops and releases the lease", async () => {
    const log: string[] = [];
    const first = candidate("handover", "first", log);
    first.start();
    await eventually(async () => assert.ok(first.isLeader), 10_000);
    const second = candidate("handover", "second", log);
    second.start();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(second.isLeader, false, "a live leader is not displaced");
    const stoppedAt = Date.now();
    await first.stop();
    await eventually(async () => assert.ok(second.isLeader), 10_000);
    assert.ok(
      Date.now() - stoppedAt < 2_000,
      "the released lease was taken within a couple of retry periods",
    );
    assert.deepEqual(log, ["first leads", "first stops", "second leads"]);
  });
});
