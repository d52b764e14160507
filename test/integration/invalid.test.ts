import assert from "node:assert/strict";
import { invalidFixtures } from "../support/invalid-fixtures.js";
import { kubectl } from "./kubectl.js";

describe("invalid CRs are rejected at admission, naming the field", () => {
  const fixtures = invalidFixtures();

  it("has at least 25 fixtures", () => {
    assert.ok(fixtures.length >= 25, `only ${fixtures.length}`);
  });

  for (const fixture of fixtures) {
    it(`${fixture.file}: ${fixture.why}`, async () => {
      const result = await kubectl(["apply", "-f", fixture.path]);
      assert.notEqual(result.code, 0, `kubectl accepted it:\n${result.stdout}`);
      assert.ok(
        result.stderr.includes(fixture.field),
        `the error does not name ${fixture.field}:\n${result.stderr}`,
      );
      assert.ok(
        result.stderr.includes(fixture.message),
        `the error does not say "${fixture.message}":\n${result.stderr}`,
      );

      const { kind, metadata } = fixture.object;
      const ns = metadata.namespace ? ["-n", metadata.namespace] : [];
      const get = await kubectl([
        "get",
        kind.toLowerCase(),
        metadata.name,
        ...ns,
        "--ignore-not-found",
        "-o",
        "name",
      ]);
      assert.equal(get.stdout, "", "nothing was stored");
    });
  }
});
