/** A Go-style duration as the CRDs allow it (h, m, s, ms, us, ns; see DURATION_PATTERN), in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };
  let total = 0;
  for (const [, value, unit] of text.matchAll(/([0-9.]+)(h|ms|m|s|us|ns)/g))
    total += Number(value) * units[unit!]!;
  return total;
}
