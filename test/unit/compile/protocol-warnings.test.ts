import assert from "node:assert/strict";
import { join } from "node:path";
import type { AuthorizationPolicy } from "../../../src/api/v1alpha1/generated/authorizationpolicy.js";
import { compile } from "../../../src/compile/compile.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

/**
 * An AuthorizationPolicy rule with HTTP-only fields on a workload port that
 * carries TCP is left out (ALLOW) or applied without those fields (DENY), as
 * Istio does; compile says so in the policy's warnings (shown in Accepted's
 * message) rather than let it vanish. mysql (tcp-weighted.yaml) serves 3306
 * as TCP.
 */
const DATA = join(import.meta.dirname, "..", "..", "testdata", "translate");

function policy(action: "ALLOW" | "DENY", operation: Record<string, string[]>): AuthorizationPolicy {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "AuthorizationPolicy",
    metadata: { name: "mysql-readers", namespace: "bookinfo", generation: 1 },
    spec: { selector: { matchLabels: { app: "mysql" } }, action, rules: [{}, { to: [{ operation }] }] },
  } as AuthorizationPolicy;
}

function warnings(ap: AuthorizationPolicy) {
  // authorization-inbound.yaml brings the Mesh and the meshed namespace; its own policies are left out.
  const state = clusterStateFromFiles(
    join(DATA, "base.yaml"),
    join(DATA, "in", "tcp-weighted.yaml"),
    join(DATA, "in", "authorization-inbound.yaml"),
  );
  const result = compile({ ...state, authorizationPolicies: [ap] });
  const found = result.securityFindings.find((f) => f.source.name === "mysql-readers");
  assert.ok(found, "no findings for the policy");
  assert.deepEqual(found.workloads, ["bookinfo/mysql-primary", "bookinfo/mysql-replica"]);
  return found.warnings;
}

describe("compile: HTTP-only fields on TCP ports", () => {
  it("warns that an ALLOW rule with methods never matches on the workloads' TCP port", () => {
    const [warning, ...rest] = warnings(policy("ALLOW", { methods: ["GET"] }));
    assert.deepEqual(rest, []);
    assert.equal(warning?.reason, "HttpOnlyFieldsOnTcp");
    assert.equal(warning?.rule, 1, "only the rule that uses them");
    assert.match(warning!.message, /never matches/);
    assert.match(warning!.message, /bookinfo\/mysql-primary:3306, bookinfo\/mysql-replica:3306/);
  });

  it("warns that a DENY rule with paths applies without them", () => {
    const [warning] = warnings(policy("DENY", { paths: ["/admin"] }));
    assert.match(warning!.message, /applies without them/);
  });

  it("says nothing of a rule with only fields TCP has", () => {
    assert.deepEqual(warnings(policy("ALLOW", { ports: ["3306"] })), []);
  });
});
