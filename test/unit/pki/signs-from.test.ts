import assert from "node:assert/strict";
import { signsLater } from "../../../src/pki/signs-from.js";
import { SIGNS_FROM_ANNOTATION } from "../../../src/mesh/annotations.js";

describe("signsLater: a staged signer's start", () => {
  const now = new Date("2026-12-04T12:00:00Z");
  const at = (value: string) => ({ [SIGNS_FROM_ANNOTATION]: value });

  it("is the annotated time while it is ahead", () => {
    assert.deepEqual(signsLater(at("2026-12-04T12:01:00Z"), now), new Date("2026-12-04T12:01:00Z"));
  });

  it("is undefined (signs now) once the time has come, without the annotation, or when it does not parse", () => {
    assert.equal(signsLater(at("2026-12-04T12:00:00Z"), now), undefined);
    assert.equal(signsLater(at("2026-12-04T11:00:00Z"), now), undefined);
    assert.equal(signsLater(undefined, now), undefined);
    assert.equal(signsLater({ other: "x" }, now), undefined);
    assert.equal(signsLater(at("soon"), now), undefined);
  });
});
