/**
 * Kubernetes resource quantities (such as 500m, 256Mi, 1.5G or 1e9), read
 * exactly. The grammar is the one resource.ParseQuantity takes, which is what
 * the API server checks a Pod's resources with: the CRDs' quantity pattern is
 * looser (it takes an exponent such as "1e1.5", which a Pod refuses).
 */

/** sign? number (digits, digits., digits.digits, .digits) then a binary SI suffix, a decimal SI suffix or a decimal exponent. */
const QUANTITY = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]?)|[eE]([+-]?[0-9]+))$/;

const BINARY_EXPONENT: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_EXPONENT: Record<string, number> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

/**
 * The longest quantity read. The CRDs set no length; this keeps the exact
 * arithmetic below small. 64 characters hold any sensible quantity many
 * times over.
 */
export const MAX_QUANTITY_LENGTH = 64;

/** A quantity's value: (negative ? -1 : 1) × digits × 10^exp10 × 2^exp2, digits without trailing zeros. */
export interface Quantity {
  readonly negative: boolean;
  readonly digits: bigint;
  /** How many decimal digits `digits` has; 0 for zero. */
  readonly digitCount: number;
  readonly exp10: number;
  readonly exp2: number;
}

/**
 * A quantity as the API server stores it in a CRD's int-or-string field (a
 * string, or an integer), or undefined when it is not one Kubernetes reads.
 */
export function parseQuantity(value: unknown): Quantity | undefined {
  if (typeof value === "number" ? !Number.isFinite(value) : typeof value !== "string") return undefined;
  const text = String(value);
  if (text.length > MAX_QUANTITY_LENGTH) return undefined;
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign, whole = "", fraction = "", binary, decimal, exponent] = match;
  if (whole === "" && fraction === "") return undefined; // "", ".", "Mi" …
  let exp10 =
    exponent !== undefined ? Number(exponent) : decimal !== undefined ? DECIMAL_EXPONENT[decimal]! : 0;
  exp10 -= fraction.length;
  let significant = (whole + fraction).replace(/^0+/, "");
  const trailing = significant.length - significant.replace(/0+$/, "").length;
  significant = significant.slice(0, significant.length - trailing);
  exp10 += trailing;
  return {
    negative: sign === "-" && significant !== "",
    digits: significant === "" ? 0n : BigInt(significant),
    digitCount: significant.length,
    exp10: significant === "" ? 0 : exp10,
    exp2: binary !== undefined ? BINARY_EXPONENT[binary]! : 0,
  };
}

/**
 * The quantity in units of 10^-scale (scale 0: bytes, or whole cores; 3:
 * millicores), when it is a whole number of them; "fractional" when it is
 * not, "huge" when it is over 10^30 of them. Negative quantities are
 * negative numbers.
 */
export function quantityIn(q: Quantity, scale: number): bigint | "fractional" | "huge" {
  if (q.digits === 0n) return 0n;
  const e = q.exp10 + scale;
  // digits < 10^digitCount, so the value is below 10^magnitude and at least a tenth of it.
  const magnitude = q.digitCount + e + q.exp2 * Math.log10(2);
  if (magnitude > 31) return "huge";
  if (magnitude <= 0) return "fractional";
  const sign = q.negative ? -1n : 1n;
  const scaled = q.digits << BigInt(q.exp2);
  if (e >= 0) return sign * scaled * 10n ** BigInt(e);
  const divisor = 10n ** BigInt(-e);
  return scaled % divisor === 0n ? (sign * scaled) / divisor : "fractional";
}
