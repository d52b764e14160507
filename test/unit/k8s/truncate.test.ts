import assert from "node:assert/strict";
import fc from "fast-check";
import { truncateCodePoints, truncateUtf8 } from "../../../src/k8s/truncate.js";

/** A lone surrogate: what JSON.stringify writes as "\udXXX", which the API server's YAML decoder refuses. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const codePoints = (text: string) => [...text].length;

describe("truncating text for the API server", () => {
  it("cuts on code points: an emoji at the boundary is kept whole or left out, never halved", () => {
    const text = "x".repeat(1023) + "🙂" + "tail"; // the emoji's two UTF-16 units are at 1023 and 1024
    assert.equal(text.slice(0, 1024).at(-1), "\ud83d", "what .slice(0, 1024) left: half an emoji");
    const cut = truncateCodePoints(text, 1024);
    assert.equal(cut, "x".repeat(1023) + "🙂");
    assert.equal(codePoints(cut), 1024);
    assert.equal(truncateCodePoints(text, 1023), "x".repeat(1023));
    assert.equal(truncateCodePoints("short", 1024), "short");
  });

  it("cuts UTF-8 on code points within the byte budget", () => {
    const text = "x".repeat(1022) + "🙂"; // 1022 + 4 bytes
    assert.equal(truncateUtf8(text, 1024), "x".repeat(1022));
    assert.equal(truncateUtf8(text, 1026), text);
    assert.equal(Buffer.byteLength(truncateUtf8("é".repeat(1000), 1024)), 1024);
  });

  it("replaces a lone surrogate it was given with U+FFFD", () => {
    assert.equal(truncateCodePoints("a\ud83db\ude42", 10), "a\ufffdb\ufffd");
    assert.equal(truncateUtf8("a\ud83d", 10), "a\ufffd");
  });

  it("always returns well-formed text within the limit (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), fc.nat(70), (text, max) => {
        const byCodePoint = truncateCodePoints(text, max);
        assert.doesNotMatch(byCodePoint, LONE_SURROGATE);
        assert.ok(codePoints(byCodePoint) <= max);
        assert.equal(codePoints(byCodePoint), Math.min(max, codePoints(text)));
        const byByte = truncateUtf8(text, max);
        assert.doesNotMatch(byByte, LONE_SURROGATE);
        assert.ok(Buffer.byteLength(byByte) <= max);
      }),
      { seed: 14, numRuns: 500 },
    );
  });
});
