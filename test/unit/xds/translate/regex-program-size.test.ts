import assert from "node:assert/strict";
import type { TrafficPolicy } from "../../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../../../../src/compile/compile.js";
import { trafficPolicyIssues } from "../../../../src/compile/traffic-issues.js";
import { renderBootstrap } from "../../../../src/inject/bootstrap.js";
import { MAX_PROGRAM_SIZE } from "../../../../src/policy/re2.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { envoyValidate } from "../../../support/envoy-validate-mode.js";
import { caseCluster } from "../../../support/policy-search-cluster.js";
import {
  issuedWorkloadSecrets,
  sidecarStaticResources,
  withStaticResources,
} from "../../../support/static-bootstrap.js";

/**
 * Admission takes a regex whose RE2 program is estimated at up to
 * MAX_PROGRAM_SIZE instructions, but Envoy refuses programs over 100 unless
 * its runtime says otherwise: a TrafficPolicy matching `a{2,300}` (602
 * instructions) was admitted, and every sidecar refused the route
 * configuration (found by test/integration/admitted-policies-envoy.test.ts).
 * The sidecar bootstrap now raises Envoy's limit; here the real Envoy loads
 * such routes on that bootstrap.
 */
const PATTERNS = ["a{2,300}", `[a-z]{${MAX_PROGRAM_SIZE}}`, "(a|b|c|d){1,60}"];

function policy(): TrafficPolicy {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: "large-regexes", namespace: "case-0", generation: 1 },
    spec: {
      targetRef: { name: "reviews" },
      http: PATTERNS.map((regex) => ({ match: [{ path: { regex } }], route: [{}] })),
    },
  };
}

describe("regexes as large as admission takes", function () {
  it("are admitted", () => assert.deepEqual(trafficPolicyIssues(policy()), []));

  it("are accepted by Envoy on the sidecar bootstrap", async function () {
    this.timeout(300_000); // the first run fetches Envoy
    const mesh = {
      apiVersion: "skiff.dev/v1alpha1" as const,
      kind: "Mesh" as const,
      metadata: { name: "default" },
      spec: {},
    };
    const { model } = compile({
      ...caseCluster(1),
      mesh,
      trafficPolicies: [policy()],
      peerAuthentications: [],
      authorizationPolicies: [],
    });
    const sidecars = model.workloads.filter((w) => w.dataPlane !== "proxyless").map((w) => w.key);
    const bootstrap = JSON.parse(
      renderBootstrap({ xds: { host: "skiff-xds.skiff-system.svc", port: 15010 }, adminPort: 15000 }),
    );
    const resources = sidecarStaticResources(translate(model), sidecars, await issuedWorkloadSecrets());
    const verdict = await envoyValidate(withStaticResources(bootstrap, resources));
    assert.ok(verdict.ok, verdict.output);
  });
});
