import assert from "node:assert/strict";
import fc from "fast-check";
import { parseQuantity, quantityIn } from "../../../src/k8s/quantity.js";

const bytes = (value: unknown) => {
  const q = parseQuantity(value);
  return q === undefined ? "invalid" : quantityIn(q, 0);
};

describe("Kubernetes quantities", () => {
  it("are read exactly, in Kubernetes' grammar", () => {
    const cases: [unknown, bigint | string][] = [
      ["1Gi", 2n ** 30n],
      ["256Mi", 256n * 2n ** 20n],
      ["1.5Gi", 3n * 2n ** 29n],
      [".5Gi", 2n ** 29n],
      ["+1Ki", 1024n],
      ["512M", 512_000_000n],
      ["128k", 128_000n],
      ["1e9", 1_000_000_000n],
      ["1E3", 1000n],
      ["1e+3", 1000n],
      ["1E", 10n ** 18n], // exa, not an exponent
      ["1Ei", 2n ** 60n],
      ["1073741824", 2n ** 30n],
      [1073741824, 2n ** 30n],
      ["1.", 1n],
      ["1000m", 1n],
      ["-1", -1n],
      [-5, -5n],
      ["-0", 0n],
      ["000", 0n],
      ["0.5", "fractional"],
      ["1500m", "fractional"],
      ["100n", "fractional"],
      ["1e-3", "fractional"],
      ["1e99999999999", "huge"],
      ["1e-99999999999", "fractional"],
      ["9007199254740993", 9007199254740993n], // past 2^53, still exact
    ];
    for (const [value, expected] of cases) assert.equal(bytes(value), expected, JSON.stringify(value));
  });

  it("are in millicores with scale 3", () => {
    const millicores = (value: string) => quantityIn(parseQuantity(value)!, 3);
    assert.equal(millicores("500m"), 500n);
    assert.equal(millicores("0.25"), 250n);
    assert.equal(millicores("2"), 2000n);
    assert.equal(millicores("0.1m"), "fractional");
  });

  it("refuse what Kubernetes' parser refuses, though the CRDs' pattern takes some of it", () => {
    for (const bad of [
      "",
      ".",
      "Mi",
      "1GB",
      "1 Gi",
      "one",
      "1e1.5",
      "1e",
      "1e+",
      "1Mi5",
      "--1",
      "1ki",
      "1m2",
    ])
      assert.equal(bytes(bad), "invalid", bad);
    for (const bad of [null, undefined, {}, [], true, Number.NaN, Infinity])
      assert.equal(bytes(bad), "invalid", String(bad));
    assert.equal(bytes("1" + "0".repeat(64)), "invalid", "over 64 characters");
  });

  it("agree with plain arithmetic on whole numbers with any suffix", () => {
    const suffixes: [string, bigint][] = [
      ["", 1n],
      ["k", 1000n],
      ["M", 10n ** 6n],
      ["G", 10n ** 9n],
      ["Ki", 1024n],
      ["Mi", 2n ** 20n],
      ["Gi", 2n ** 30n],
      ["Ti", 2n ** 40n],
    ];
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.constantFrom(...suffixes), (n, [suffix, m]) => {
        assert.equal(bytes(`${n}${suffix}`), n * m);
      }),
    );
  });
});
