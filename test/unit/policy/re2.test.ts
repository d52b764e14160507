import assert from "node:assert/strict";
import { RE2JS } from "re2js";
import { MAX_PROGRAM_SIZE, re2SyntaxProblem } from "../../../src/policy/re2.js";
import { re2SizeEstimate } from "../../../src/policy/re2-size.js";

describe("RE2 program size, estimated from the pattern's text", () => {
  const patterns = [
    "abc",
    "a+b*c?",
    "(a|b|c)",
    "(?:a|b){3}",
    "[a-z0-9]{1,32}",
    "^/(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa)/[a-z0-9]{1,32}$",
    "[\\pL\\pN]{200}",
    "a{2,100}b{2,100}",
    "(a{30}){30}",
    "(?i)x{5,}",
    "\\Q.*+\\E{3}",
    "(?P<n>[0-9]+)-(?<m>x)",
    "((a|b)(c|d)){10}",
    "[]a]{4}",
    "[[:alpha:]]{100}",
    "\\x{41}\\p{Greek}+",
  ];

  it("is never below what RE2 compiles (less its two fixed instructions)", () => {
    for (const pattern of patterns) {
      const size = RE2JS.compile(pattern).programSize();
      assert.ok(
        re2SizeEstimate(pattern) >= size - 2,
        `${pattern}: estimated ${re2SizeEstimate(pattern)}, is ${size}`,
      );
    }
  });

  it("multiplies nested repetitions and adds sequential ones", () => {
    assert.equal(re2SizeEstimate("(?:a{10}){10}"), 100);
    assert.equal(re2SizeEstimate("a{10}b{10}"), 20);
  });
});

describe("re2SyntaxProblem bounds the cost of a check", () => {
  it("refuses a pattern whose program would be too large, without compiling it", () => {
    // re2js takes over a second to compile this 990-character pattern.
    const pattern = "a{2,1000}".repeat(110);
    const started = performance.now();
    assert.match(
      re2SyntaxProblem(pattern) ?? "",
      /too large: its RE2 program would have over 1000 instructions/,
    );
    assert.ok(performance.now() - started < 100, `${performance.now() - started} ms`);
  });

  it("accepts programs up to the bound, far past Envoy's default of 100", () => {
    assert.equal(re2SyntaxProblem(`[a-z]{${MAX_PROGRAM_SIZE}}`), undefined);
    assert.match(re2SyntaxProblem(`[a-z]{${MAX_PROGRAM_SIZE}}x`) ?? "", /too large/);
    assert.equal(
      re2SyntaxProblem("^/(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa)/[a-z0-9]{1,32}$"),
      undefined,
    );
  });
});
