/**
 * IP addresses and CIDRs in the one grammar Skiff accepts everywhere: Go's
 * net/netip, with which Kubernetes validates them (glibc's inet_pton, which
 * Envoy uses, agrees): IPv4 as four decimal parts without leading zeros,
 * IPv6 with an optional dotted IPv4 tail and no zone. Admission, compile,
 * translate, the evaluator, simulate and the iptables rules all parse here.
 * (ipaddr.js was tried: it takes "010.0.0.1" as octal and reads
 * "::1.2.3.4" as ::ffff:1.2.3.4.) Pure.
 */

export type IpFamily = "ipv4" | "ipv6";

/** An address: its family, its parts (4 bytes, or 8 groups of 16 bits) and its value. */
export interface ParsedIp {
  readonly family: IpFamily;
  readonly parts: readonly number[];
  readonly value: bigint;
}

/** Parses an address (no prefix); undefined when the text is not one. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: "ipv4", parts: v4, value: valueOf(v4, 8) };
  const v6 = parseIpv6(text);
  if (v6) return { family: "ipv6", parts: v6, value: valueOf(v6, 16) };
  return undefined;
}

/** The number of bits of a family's addresses. */
export function addressBits(family: IpFamily): number {
  return family === "ipv4" ? 32 : 128;
}

/**
 * An address from its value, every part written out: IPv4 dotted, IPv6 as
 * eight lower-case hexadecimal groups without compression (as translate
 * writes CidrRanges).
 */
export function formatIpValue(family: IpFamily, value: bigint): string {
  const groups = family === "ipv4" ? 4 : 8;
  const width = family === "ipv4" ? 8n : 16n;
  const parts: string[] = [];
  for (let i = groups - 1; i >= 0; i--) {
    const part = (value >> (BigInt(i) * width)) & ((1n << width) - 1n);
    parts.push(family === "ipv4" ? part.toString(10) : part.toString(16));
  }
  return parts.join(family === "ipv4" ? "." : ":");
}

function valueOf(parts: readonly number[], width: number): bigint {
  return parts.reduce((acc, p) => (acc << BigInt(width)) | BigInt(p), 0n);
}

export interface ParsedCidr {
  family: IpFamily;
  /** Canonical form: host bits cleared, IPv6 compressed as RFC 5952 (and iptables-save) writes it. */
  cidr: string;
  /** The network address as 4 or 8 numbers, for sorting. */
  parts: number[];
  prefix: number;
}

/**
 * Parses an IPv4 or IPv6 CIDR as Kubernetes' isCIDR (Go's netip.ParsePrefix)
 * accepts it: host bits may be set (they are cleared here), no zones, no
 * leading zeros in IPv4 octets or the prefix length. Returns undefined when
 * the text is not a CIDR.
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const v4 = parseIpv4(address);
  if (v4) {
    if (prefix > 32) return undefined;
    const masked = maskParts(v4, 8, prefix);
    return { family: "ipv4", cidr: `${masked.join(".")}/${prefix}`, parts: masked, prefix };
  }
  const v6 = parseIpv6(address);
  if (v6) {
    if (prefix > 128) return undefined;
    const masked = maskParts(v6, 16, prefix);
    return { family: "ipv6", cidr: `${formatIpv6(masked)}/${prefix}`, parts: masked, prefix };
  }
  return undefined;
}

function parseIpv4(text: string): number[] | undefined {
  const octets = text.split(".");
  if (octets.length !== 4) return undefined;
  const parts: number[] = [];
  for (const octet of octets) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(octet)) return undefined;
    const value = Number(octet);
    if (value > 255) return undefined;
    parts.push(value);
  }
  return parts;
}

function parseIpv6(text: string): number[] | undefined {
  if (text.includes("%")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  if (!head) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const tail = groups(halves[1]!);
  if (!tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function maskParts(parts: number[], bitsPerPart: number, prefix: number): number[] {
  return parts.map((value, i) => {
    const keep = Math.max(0, Math.min(bitsPerPart, prefix - i * bitsPerPart));
    const mask = keep === 0 ? 0 : ((0xffff << (bitsPerPart - keep)) & ((1 << bitsPerPart) - 1)) >>> 0;
    return value & mask;
  });
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::", first on ties. */
function formatIpv6(parts: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = parts.map((p) => p.toString(16));
  if (bestLength < 2) return hex.join(":");
  // IPv4-compatible and IPv4-mapped addresses keep their dotted tail, as inet_ntop writes them.
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && parts[5] === 0xffff))) {
    const v4 = [parts[6]! >> 8, parts[6]! & 0xff, parts[7]! >> 8, parts[7]! & 0xff].join(".");
    return bestLength === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
