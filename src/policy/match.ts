import type { CidrModel, ValuePattern } from "../ir/security.js";
import { addressBits, parseIp } from "../net/ip.js";

/**
 * Whether a value matches one of Istio's patterns, as the Envoy matcher that
 * Istio generates for it would.
 *
 * - An absent value (undefined) matches nothing.
 * - `Present` is `.+` for string attributes (a non-empty value), but for
 *   headers, hosts and methods Istio writes Envoy's `present_match`, which
 *   also accepts an empty value: pass `presentMatchesEmpty` for those.
 * - `ignoreCase` is for hosts, which Istio compares case-insensitively.
 */
export function matchesPattern(
  pattern: ValuePattern,
  value: string | undefined,
  options: { readonly ignoreCase?: boolean; readonly presentMatchesEmpty?: boolean } = {},
): boolean {
  if (value === undefined) return false;
  const fold = (s: string) => (options.ignoreCase ? s.toLowerCase() : s);
  const v = fold(value);
  switch (pattern.kind) {
    case "Present":
      return options.presentMatchesEmpty === true || value !== "";
    case "Exact":
      return v === fold(pattern.value);
    case "Prefix":
      return v.startsWith(fold(pattern.prefix));
    case "Suffix":
      return v.endsWith(fold(pattern.suffix));
  }
}

/**
 * `values` (if given) must hold for one entry and `notValues` (if given) for
 * none: Istio's OR of values ANDed with NOT(OR of notValues).
 */
export function valuesHold<T>(
  values: readonly T[] | undefined,
  notValues: readonly T[] | undefined,
  test: (value: T) => boolean,
): boolean {
  if (values !== undefined && !values.some(test)) return false;
  if (notValues !== undefined && notValues.some(test)) return false;
  return true;
}

/** Whether an address lies in a range, as Envoy's CidrRange: the families must agree. */
export function cidrContains(cidr: CidrModel, ip: string | undefined): boolean {
  if (ip === undefined) return false;
  const network = parseIp(cidr.address);
  const address = parseIp(ip);
  if (!network || !address || network.family !== address.family) return false;
  const bits = addressBits(network.family);
  const shift = BigInt(bits - cidr.prefixLength);
  return network.value >> shift === address.value >> shift;
}

/** Whether `labels` include every pair of `wanted`: the selector semantics of matchLabels. */
export function labelsInclude(
  labels: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v);
}
