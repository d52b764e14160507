import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { validateObject } from "../../../src/api/v1alpha1/validate.js";
import { invalidFixtures } from "../../support/invalid-fixtures.js";

const SAMPLES = join(import.meta.dirname, "..", "..", "..", "config", "samples");

describe("offline validation (skiff validate)", () => {
  for (const file of readdirSync(SAMPLES).filter((f) => f.startsWith("skiff.dev_"))) {
    it(`accepts the sample ${file}`, () => {
      for (const doc of parseAllDocuments(readFileSync(join(SAMPLES, file), "utf8"))) {
        assert.deepEqual(validateObject(doc.toJS()), []);
      }
    });
  }

  for (const fixture of invalidFixtures()) {
    if (fixture.rejectedOffline) {
      it(`rejects ${fixture.file} at ${fixture.field}`, () => {
        const issues = validateObject(fixture.object);
        assert.ok(
          issues.some((i) => i.field === fixture.field),
          `expected an issue at ${fixture.field}, got ${JSON.stringify(issues)}`,
        );
      });
    } else {
      // These need a CEL rule, which only the API server evaluates. If offline
      // validation ever learns CEL, mark the fixture `# offline: rejected`.
      it(`leaves ${fixture.file} to the API server's CEL rules`, () => {
        assert.deepEqual(validateObject(fixture.object), []);
      });
    }
  }

  it("names unknown fields the way kubectl's strict validation does", () => {
    const issues = validateObject({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "PeerAuthentication",
      metadata: { name: "x" },
      spec: { mtls: { mode: "STRICT", strict: true } },
    });
    assert.deepEqual(issues, [{ field: "spec.mtls.strict", message: "unknown field" }]);
  });

  it("rejects objects of other API groups and unknown kinds", () => {
    assert.equal(validateObject({ apiVersion: "v1", kind: "Pod" })[0]!.field, "apiVersion");
    assert.equal(validateObject({ apiVersion: "skiff.dev/v1alpha1", kind: "Gateway" })[0]!.field, "kind");
  });
});
