import assert from "node:assert/strict";
import {
  decodeReplicaReport,
  encodeReplicaReport,
  type ReplicaReport,
} from "../../../../src/xds/status/replica-report.js";

const REPORT: ReplicaReport = {
  connectedProxies: 3,
  policies: [
    {
      kind: "AuthorizationPolicy",
      namespace: "bookinfo",
      name: "viewer",
      generation: 2,
      programming: {
        targeted: 2,
        proxyless: 1,
        acked: 1,
        nacked: 1,
        lastNackMessage: "rbac filter rejected",
      },
    },
  ],
};
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("replica reports", () => {
  it("decode what was encoded", () => {
    assert.deepEqual(decodeReplicaReport(encodeReplicaReport(REPORT)), REPORT);
  });

  it("refuse what is not a report, saying why", () => {
    const policy = REPORT.policies[0]!;
    const refusals: [unknown, RegExp][] = [
      [{ policies: [] }, /not a replica report/],
      [{ connectedProxies: -1, policies: [] }, /not a replica report/],
      [{ connectedProxies: 1 }, /not a replica report/],
      [{ connectedProxies: 1, policies: [{ ...policy, kind: "Service" }] }, /malformed policy entry/],
      [{ connectedProxies: 1, policies: [{ ...policy, generation: "2" }] }, /malformed policy entry/],
      [
        {
          connectedProxies: 1,
          policies: [{ ...policy, programming: { ...policy.programming, acked: 0.5 } }],
        },
        /malformed policy entry/,
      ],
      [{ connectedProxies: 1, policies: [{ ...policy, programming: undefined }] }, /malformed policy entry/],
    ];
    for (const [value, why] of refusals) {
      const decoded = decodeReplicaReport(bytes(value));
      assert.ok("error" in decoded, JSON.stringify(value));
      assert.match(decoded.error, why);
    }
    const notJson = decodeReplicaReport(new TextEncoder().encode("{"));
    assert.ok("error" in notJson);
    assert.match(notJson.error, /not JSON/);
  });
});
