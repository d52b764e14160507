import { durationMs } from "../api/duration.js";
import { DURATION_PATTERN } from "../api/schema.js";

/** How both agents describe SECRET_TTL in their usage. */
export const SECRET_TTL_USAGE = `Environment:
  SECRET_TTL                the workload certificate's lifetime to ask for, a
                            duration such as 1h or 90s (Istio's name; set it
                            with the Pod annotation proxy.skiff.dev/config's
                            proxyMetadata). The Mesh's workloadValidity caps
                            it and is the default. Renewed at 80% of it.`;

/**
 * SECRET_TTL, Istio's variable for the workload certificate's lifetime, in
 * whole seconds (rounded up): undefined when unset, or why it is not a
 * duration. Both agents (sidecar and proxyless) read it the same way.
 */
export function secretTtlSeconds(value: string | undefined): number | undefined | { error: string } {
  if (value === undefined || value === "") return undefined;
  const ms = new RegExp(DURATION_PATTERN).test(value) ? durationMs(value) : 0;
  if (ms <= 0) return { error: `SECRET_TTL must be a positive duration such as 1h or 90s, not '${value}'` };
  return Math.ceil(ms / 1000);
}
