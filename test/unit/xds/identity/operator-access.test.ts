import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { cachedOperatorAccess } from "../../../../src/xds/identity/operator-access.js";
import { forbidden, uncheckable } from "../../../../src/xds/server/authentication-error.js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";

const operator: WorkloadIdentity = { namespace: "ops", serviceAccount: "admin" };
const workload: WorkloadIdentity = { namespace: "shop", serviceAccount: "reviews" };

describe("operator access decisions, reused", () => {
  it("asks once per ServiceAccount within 30 s, allowed or denied, and again after", async () => {
    let clock = 0;
    const asked: string[] = [];
    const access = cachedOperatorAccess(
      async (identity) => {
        asked.push(identity.serviceAccount);
        if (identity.serviceAccount !== "admin") throw forbidden("no");
      },
      () => clock,
    );
    await access(operator);
    await access(operator);
    await assert.rejects(access(workload), { code: GrpcStatus.PERMISSION_DENIED });
    await assert.rejects(access(workload), { code: GrpcStatus.PERMISSION_DENIED });
    assert.deepEqual(asked, ["admin", "reviews"]);
    clock = 30_000;
    await access(operator);
    assert.deepEqual(asked, ["admin", "reviews", "admin"]);
  });

  it("does not keep a review that could not be made", async () => {
    let calls = 0;
    const access = cachedOperatorAccess(async () => {
      calls += 1;
      if (calls === 1) throw uncheckable("API server down");
    });
    await assert.rejects(access(operator), { code: GrpcStatus.UNAVAILABLE });
    await access(operator);
    assert.equal(calls, 2);
  });
});
