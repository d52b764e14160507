import type { CidrModel, ValuePattern } from "../ir/security.js";

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

/** An IP address as a number and its family; undefined when it is not one. */
export function parseIp(ip: string): { readonly family: 4 | 6; readonly value: bigint } | undefined {
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(ip)) {
    const parts = ip.split(".").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (!ip.includes(":") || ip.includes("%")) return undefined;
  // An IPv6 address may end in a dotted IPv4 address (::ffff:10.0.0.1).
  let text = ip;
  const dotted = /^(.*:)([0-9.]+)$/.exec(ip);
  if (dotted && dotted[2]!.includes(".")) {
    const v4 = parseIp(dotted[2]!);
    if (!v4 || v4.family !== 4) return undefined;
    text = `${dotted[1]}${(v4.value >> 16n).toString(16)}:${(v4.value & 0xffffn).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return { family: 6, value: all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

/** Whether an address lies in a range, as Envoy's CidrRange: the families must agree. */
export function cidrContains(cidr: CidrModel, ip: string | undefined): boolean {
  if (ip === undefined) return false;
  const network = parseIp(cidr.address);
  const address = parseIp(ip);
  if (!network || !address || network.family !== address.family) return false;
  const bits = network.family === 4 ? 32 : 128;
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
