import assert from "node:assert/strict";
import { join } from "node:path";
import type { TrafficPolicy } from "../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../../../src/compile/compile.js";
import { trafficPolicyIssues } from "../../../src/compile/traffic-issues.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

const DATA = join(import.meta.dirname, "..", "..", "testdata", "translate");

const policy = (name: string, spec: Partial<TrafficPolicy["spec"]>): TrafficPolicy =>
  ({
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name, namespace: "bookinfo", generation: 2, creationTimestamp: "2026-01-01T00:00:00Z" },
    spec: { targetRef: { name: "reviews" }, ...spec },
  }) as TrafficPolicy;

const matching = (match: NonNullable<TrafficPolicy["spec"]["http"]>[number]["match"]) =>
  policy("reviews", { http: [{ match, route: [{}] }] });

describe("trafficPolicyIssues: what the schema cannot check and Envoy refuses", () => {
  it("finds each regex RE2 refuses, naming its field as the API server does", () => {
    const issues = trafficPolicyIssues(
      matching([
        { path: { regex: "/api/(?=v1)" } },
        {
          headers: [
            { name: "x-ok", regex: "[a-z]+" },
            { name: "x-user", regex: "(a)\\1" },
          ],
          queryParams: [{ name: "id", regex: "\\u0041" }],
        },
      ]),
    );
    assert.deepEqual(
      issues.map((i) => i.field),
      [
        "spec.http[0].match[0].path.regex",
        "spec.http[0].match[1].headers[1].regex",
        "spec.http[0].match[1].queryParams[0].regex",
      ],
    );
    for (const issue of issues) assert.match(issue.message, /^invalid RE2 regex: /);
  });

  it("accepts RE2 syntax that JavaScript lacks", () => {
    assert.deepEqual(
      trafficPolicyIssues(
        matching([{ path: { regex: "/\\pL+/(?i)items" }, headers: [{ name: "x", regex: "(?P<v>[0-9]+)" }] }]),
      ),
      [],
    );
  });
});

describe("compile leaves out a TrafficPolicy with a regex RE2 refuses", () => {
  it("reports it Accepted=False/Invalid and builds the Service as if it were not there", () => {
    const base = clusterStateFromFiles(join(DATA, "base.yaml"));
    const bad = matching([{ path: { regex: "/api/(?!admin)" } }]);
    const result = compile({ ...base, trafficPolicies: [bad] });
    const accepted = result.findings
      .find((f) => f.source.name === "reviews")
      ?.findings.find((f) => f.type === "Accepted");
    assert.equal(accepted?.status, "False");
    assert.equal(accepted?.reason, "Invalid");
    assert.match(accepted!.message, /spec\.http\[0\]\.match\[0\]\.path\.regex: invalid RE2 regex/);
    const reviews = result.model.services.find((s) => s.name === "reviews");
    assert.ok(reviews, "the Service is still built");
    assert.equal(reviews.traffic, undefined, "without the invalid policy");
  });

  it("lets an older valid policy govern the target, and no invalid policy conflicts with it", () => {
    const base = clusterStateFromFiles(join(DATA, "base.yaml"));
    const bad = {
      ...matching([{ path: { regex: "(" } }]),
      metadata: { ...matching([]).metadata, name: "a-bad", creationTimestamp: "2025-01-01T00:00:00Z" },
    } as TrafficPolicy;
    const good = policy("z-good", { http: [{ name: "all", route: [{}] }] });
    const result = compile({ ...base, trafficPolicies: [bad, good] });
    const accepted = (name: string) =>
      result.findings.find((f) => f.source.name === name)?.findings.find((f) => f.type === "Accepted");
    assert.equal(accepted("a-bad")?.reason, "Invalid");
    assert.equal(accepted("z-good")?.status, "True");
    assert.equal(result.model.services.find((s) => s.name === "reviews")?.traffic?.source.name, "z-good");
  });
});
