import assert from "node:assert/strict";
import { selectorMatches, selectorProblems } from "../../../src/k8s/selector.js";

describe("label selectors", () => {
  const labels = { "skiff.dev/injection": "enabled", team: "books" };

  it("matches everything when empty", () => {
    assert.ok(selectorMatches({}, undefined));
    assert.ok(selectorMatches({ matchLabels: {}, matchExpressions: [] }, labels));
  });

  it("needs every matchLabels pair", () => {
    assert.ok(selectorMatches({ matchLabels: { "skiff.dev/injection": "enabled" } }, labels));
    assert.ok(!selectorMatches({ matchLabels: { "skiff.dev/injection": "enabled", team: "music" } }, labels));
    assert.ok(!selectorMatches({ matchLabels: { "skiff.dev/injection": "enabled" } }, {}));
  });

  it("evaluates In, NotIn, Exists and DoesNotExist as Kubernetes does", () => {
    const m = (operator: "In" | "NotIn" | "Exists" | "DoesNotExist", values?: string[]) =>
      selectorMatches({ matchExpressions: [{ key: "team", operator, values }] }, labels);
    assert.ok(m("In", ["books", "music"]));
    assert.ok(!m("In", ["music"]));
    assert.ok(m("NotIn", ["music"]));
    assert.ok(!m("NotIn", ["books"]));
    assert.ok(m("Exists"));
    assert.ok(!m("DoesNotExist"));
    assert.ok(
      selectorMatches({ matchExpressions: [{ key: "absent", operator: "NotIn", values: ["x"] }] }, labels),
    );
    assert.ok(selectorMatches({ matchExpressions: [{ key: "absent", operator: "DoesNotExist" }] }, labels));
  });
});

describe("selectorProblems: what the API server refuses in a selector", () => {
  it("finds nothing in a valid selector", () => {
    assert.deepEqual(
      selectorProblems({
        matchLabels: { "skiff.dev/injection": "enabled", app: "", "a.b-c_d": "V1.2_x" },
        matchExpressions: [{ key: "team", operator: "In", values: ["books", "music"] }],
      }),
      [],
    );
  });

  it("names each label key and value that breaks Kubernetes' rules", () => {
    const long = "x".repeat(64);
    const problems = selectorProblems({
      matchLabels: { "app name": "reviews", app: "v1 beta", [`${"a".repeat(254)}/x`]: "ok", ok: long },
      matchExpressions: [
        { key: "/injection", operator: "Exists" },
        { key: "team", operator: "In", values: ["books", "music!"] },
      ],
    });
    assert.deepEqual(
      problems.map((p) => p.field),
      [
        "matchLabels",
        "matchLabels.app",
        "matchLabels",
        "matchLabels.ok",
        "matchExpressions[0].key",
        "matchExpressions[1].values[1]",
      ],
    );
    assert.match(problems[0]!.message, /^keys must be label keys: .*; "app name" is not$/);
    assert.match(problems[1]!.message, /^must be a label value/);
  });
});
