/**
 * The convergence benchmark's machine-readable results
 * (bench/results/convergence-<date>.json, the shape of
 * test/bench/shared/results-file.ts): B2, B2b and B5 of issue 18 per mode, with
 * what explains them (B5's writes per policy, the status writes an endpoint
 * change causes, the server's own convergence histogram).
 */
import { bounded, type BenchResult } from "../shared/results-file.js";
import { mean, percentile } from "../shared/stats.js";
import type { ChangeSample } from "./b2.js";
import type { ChangeKind } from "./changes.js";
import type { ModeRun } from "./report.js";

export const B2_TARGET_MS = 100;
export const B2B_TARGET_MS = 250;
export const B5_TARGET_MS = 2000;

const sorted = (values: (number | undefined)[]) =>
  values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);

function counted(run: ModeRun, kind: ChangeKind): ChangeSample[] {
  return run.samples.filter((s) => s.kind === kind && !s.warmup);
}

/** p99 (nearest rank) with the noise it carries: how many changes, and their spread. */
function p99(values: number[]): { value: number; noise: string } {
  return {
    value: values.length ? percentile(values, 99) : NaN,
    noise: `p99 (nearest rank) over ${values.length} changes; p50 ${percentile(values, 50)?.toFixed(1)}, range ${values[0]?.toFixed(1)}–${values.at(-1)?.toFixed(1)} ms`,
  };
}

export function convergenceResults(runs: readonly ModeRun[]): BenchResult[] {
  return runs.flatMap((run) => {
    const n = run.connect.proxies;
    const endpoints = counted(run, "endpoints");
    const policies = counted(run, "policy");
    const results: BenchResult[] = [
      bounded({
        id: `B2 ${run.mode}`,
        what: `EndpointSlice change → last of ${n} proxies ACKs, p99`,
        unit: "ms",
        target: B2_TARGET_MS,
        ...p99(sorted(endpoints.map((s) => s.expected.lastAckUnixMs - s.writeSentUnixMs))),
      }),
      bounded({
        id: `B2b ${run.mode}`,
        what: `TrafficPolicy change → Programmed=True seen by a watch, p99 (${n} proxies)`,
        unit: "ms",
        target: B2B_TARGET_MS,
        ...p99(sorted(policies.map((s) => (s.programmedUnixMs ?? NaN) - s.writeSentUnixMs))),
      }),
      bounded({
        id: `B2 ${run.mode} policy status writes`,
        what: "TrafficPolicy status writes per EndpointSlice change (should be none)",
        unit: "writes",
        value: mean(sorted(endpoints.map((s) => s.policyStatusWrites))),
        noise: `mean over ${endpoints.length} changes`,
      }),
      bounded({
        id: `B2 ${run.mode} server convergence`,
        what: "skiff_xds_convergence_seconds of an EndpointSlice change, p99 (the server's own measure)",
        unit: "ms",
        ...p99(
          sorted(
            endpoints.map((s) => (s.serverConvergences === 1 ? s.serverConvergenceSumS * 1000 : undefined)),
          ),
        ),
      }),
    ];
    const b5 = run.b5;
    if (b5) {
      const sinceLastCreate = (ms: number | undefined) => (ms === undefined ? NaN : ms - b5.createdMs);
      results.push(
        bounded({
          id: `B5 ${run.mode}`,
          what: `${b5.policies} TrafficPolicies: last create answered → all Accepted and Programmed (${b5.proxies} proxies)`,
          unit: "ms",
          target: B5_TARGET_MS,
          value: sinceLastCreate(
            b5.programmedMs === undefined ? undefined : Math.max(b5.programmedMs, b5.acceptedMs ?? 0),
          ),
          noise: "one run",
          note: `creating them took ${Math.round(b5.createdMs)} ms with ${b5.concurrency} in flight; ${(b5.statusUpdates / b5.policies).toFixed(2)} status writes per policy`,
        }),
        bounded({
          id: `B5 ${run.mode} status writes`,
          what: "status writes per policy seen by the watch during B5",
          unit: "writes",
          value: b5.statusUpdates / b5.policies,
          noise: "one run",
        }),
      );
    }
    return results;
  });
}
