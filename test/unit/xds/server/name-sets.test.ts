import assert from "node:assert/strict";
import { nameSet, sameNames, sortedNames } from "../../../../src/xds/server/name-sets.js";

describe("subscription name sets", () => {
  it("are one shared set for equal lists", () => {
    const first = nameSet(["x", "y"]);
    assert.equal(nameSet(["x", "y"]), first);
    assert.deepEqual([...first], ["x", "y"]);
  });

  it("never confuse lists whose joined form collides", () => {
    const joined = nameSet(["p\nq"]);
    const split = nameSet(["p", "q"]);
    assert.notEqual(joined, split);
    assert.deepEqual([...joined], ["p\nq"]);
    assert.deepEqual([...split], ["p", "q"]);
  });

  it("tell whether a request repeats a subscription", () => {
    const set = nameSet(["m", "n"]);
    assert.equal(sameNames(set, ["m", "n"]), true);
    assert.equal(sameNames(set, ["n", "m"]), false); // a new set, interned by its own order
    assert.equal(sameNames(set, ["m"]), false);
    assert.equal(sameNames(set, ["m", "m"]), false);
    assert.equal(sameNames(set, ["m", "o"]), false);
  });

  it("sort once per set", () => {
    const set = nameSet(["s2", "s1"]);
    assert.deepEqual(sortedNames(set), ["s1", "s2"]);
    assert.equal(sortedNames(set), sortedNames(set));
  });
});
