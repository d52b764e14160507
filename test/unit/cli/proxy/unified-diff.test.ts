import assert from "node:assert/strict";
import { unifiedDiff } from "../../../../src/cli/proxy/unified-diff.js";

const labels = { before: "acked", after: "wanted" };

describe("unifiedDiff: diff -u of two texts", () => {
  it("is empty for equal texts", () => {
    assert.equal(unifiedDiff("a\nb\n", "a\nb\n", labels), "");
  });

  it("shows a changed line with three lines of context, in one hunk", () => {
    const before = ["1", "2", "3", "4", "5", "6", "7", "8", "9"].join("\n");
    const after = ["1", "2", "3", "4", "five", "6", "7", "8", "9"].join("\n");
    assert.equal(
      unifiedDiff(before, after, labels),
      ["--- acked", "+++ wanted", "@@ -2,7 +2,7 @@", " 2", " 3", " 4", "-5", "+five", " 6", " 7", " 8"].join(
        "\n",
      ),
    );
  });

  it("keeps far-apart changes in separate hunks, and shows additions to an empty text", () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const after = before.map((line, i) => (i === 1 || i === 18 ? `${line}!` : line));
    const diff = unifiedDiff(before.join("\n"), after.join("\n"), labels);
    assert.equal(diff.match(/^@@/gm)?.length, 2, diff);
    assert.match(unifiedDiff("", "name: x", labels), /^\+name: x$/m);
  });
});
