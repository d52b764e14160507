import assert from "node:assert/strict";
import { selectorMatches } from "../../../src/k8s/selector.js";

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
