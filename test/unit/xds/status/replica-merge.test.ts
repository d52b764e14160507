import assert from "node:assert/strict";
import { programmedCondition } from "../../../../src/xds/status/programmed.js";
import type { Programming } from "../../../../src/xds/status/programming.js";
import {
  mergedConnectedProxies,
  mergedProgramming,
  type PeerAnswer,
} from "../../../../src/xds/status/replica-merge.js";
import type { ReplicaReport } from "../../../../src/xds/status/replica-report.js";

const SOURCE = { namespace: "bookinfo", name: "reviews", generation: 4 };
const ACCEPTED = { status: "True", message: "ok" };

const counts = (targeted: number, acked: number, nacked = 0, lastNackMessage = ""): Programming => ({
  targeted,
  proxyless: 0,
  acked,
  nacked,
  lastNackMessage,
});

/** A peer that answered, having compiled `generation` of the TrafficPolicy with these counts. */
const peer = (
  replica: string,
  programming: Programming,
  generation = 4,
  connectedProxies = 1,
): PeerAnswer => {
  const report: ReplicaReport = {
    connectedProxies,
    policies: [{ kind: "TrafficPolicy", namespace: "bookinfo", name: "reviews", generation, programming }],
  };
  return { replica, report };
};

const merged = (local: Programming, peers: PeerAnswer[]) =>
  mergedProgramming("TrafficPolicy", SOURCE, local, peers);
const condition = (p: Programming) => programmedCondition(ACCEPTED, p);

describe("policy programming over xDS replicas", () => {
  it("adds the peers' counts for the same policy generation", () => {
    const p = merged(counts(2, 2), [peer("xds-b", counts(3, 1)), peer("xds-c", counts(1, 1))]);
    assert.deepEqual(p, { targeted: 6, proxyless: 0, acked: 4, nacked: 0, lastNackMessage: "" });
    const c = condition(p);
    assert.deepEqual(
      [c.status, c.reason, c.message],
      ["False", "Pending", "4 of 6 proxies run this generation."],
    );
  });

  it("is Programmed only when the proxies of every replica run it", () => {
    const c = condition(merged(counts(2, 2), [peer("xds-b", counts(3, 3))]));
    assert.deepEqual([c.status, c.reason], ["True", "Programmed"]);
    assert.match(c.message, /All 5 proxies/);
  });

  it("shows a NACK on another replica as Nacked, with its message", () => {
    const p = merged(counts(2, 2), [peer("xds-b", counts(1, 0, 1, "cluster rejected: bad lb policy"))]);
    const c = condition(p);
    assert.deepEqual([c.status, c.reason], ["False", "Nacked"]);
    assert.equal(c.message, "1 of 3 proxies rejected the configuration: cluster rejected: bad lb policy");
    assert.equal(p.lastNackMessage, "cluster rejected: bad lb policy");
  });

  it("prefers this replica's NACK message to a peer's", () => {
    const p = merged(counts(1, 0, 1, "mine"), [peer("xds-b", counts(1, 0, 1, "theirs"))]);
    assert.equal(p.nacked, 2);
    assert.equal(p.lastNackMessage, "mine");
  });

  it("is Pending while a peer has not compiled this generation, whatever the counts", () => {
    for (const lagging of [
      peer("xds-b", counts(0, 0), 3),
      peer("xds-b", counts(0, 0), 5),
      { replica: "xds-b", report: { connectedProxies: 1, policies: [] } },
    ]) {
      const p = merged(counts(2, 2), [lagging]);
      assert.deepEqual([p.targeted, p.acked, p.behind], [2, 2, ["xds-b"]], "the peer's counts are left out");
      const c = condition(p);
      assert.deepEqual([c.status, c.reason], ["False", "Pending"]);
      assert.equal(
        c.message,
        "2 of 2 proxies run this generation. xDS replica xds-b has not compiled it yet.",
      );
    }
  });

  it("counts only the entry of the same policy", () => {
    const other: PeerAnswer = {
      replica: "xds-b",
      report: {
        connectedProxies: 1,
        policies: [
          {
            kind: "AuthorizationPolicy",
            namespace: "bookinfo",
            name: "reviews",
            generation: 4,
            programming: counts(5, 0),
          },
          {
            kind: "TrafficPolicy",
            namespace: "other",
            name: "reviews",
            generation: 4,
            programming: counts(5, 0),
          },
          {
            kind: "TrafficPolicy",
            namespace: "bookinfo",
            name: "reviews",
            generation: 4,
            programming: counts(1, 1),
          },
        ],
      },
    };
    assert.deepEqual(merged(counts(1, 1), [other]), counts(2, 2));
  });

  it("is Unknown, naming the replica and why, when one did not answer and all known proxies run it", () => {
    const p = merged(counts(2, 2), [
      peer("xds-b", counts(1, 1)),
      { replica: "xds-c", unreachable: "deadline exceeded" },
    ]);
    const c = condition(p);
    assert.deepEqual([c.status, c.reason], ["Unknown", "ReplicaUnreachable"]);
    assert.equal(
      c.message,
      "All 3 proxies known run this generation, but xDS replica xds-c did not answer (deadline exceeded): whether its proxies do is not known.",
    );
  });

  it("stays Pending, or Nacked, when a replica did not answer and what is known says so", () => {
    const unreachable: PeerAnswer = { replica: "xds-c", unreachable: "connection refused" };
    const pending = condition(merged(counts(2, 1), [unreachable]));
    assert.deepEqual([pending.status, pending.reason], ["False", "Pending"]);
    assert.match(
      pending.message,
      /xDS replica xds-c did not answer \(connection refused\): its proxies are not counted/,
    );
    const nacked = condition(merged(counts(2, 1, 1, "bad"), [unreachable]));
    assert.deepEqual([nacked.status, nacked.reason], ["False", "Nacked"]);
  });

  it("is this replica's alone with no peers", () => {
    assert.deepEqual(merged(counts(2, 1), []), counts(2, 1));
  });

  it("sums connectedProxies over the replicas that answered", () => {
    assert.equal(
      mergedConnectedProxies(2, [
        peer("xds-b", counts(0, 0), 4, 3),
        { replica: "xds-c", unreachable: "connection refused" },
      ]),
      5,
    );
    assert.equal(mergedConnectedProxies(2, []), 2);
  });
});
