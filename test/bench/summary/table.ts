import type { FoundResultFile } from "./results.js";

/** The benchmarks of issues 7 and 18, in the order of their table; `target` is the issue's, in words. */
export const BENCHMARKS: readonly { readonly id: string; readonly what: string; readonly target: string }[] =
  [
    { id: "B1", what: "cold fan-out, SotW and delta", target: "ratio to go-control-plane" },
    { id: "B2", what: "EndpointSlice change → last of 1000 proxies ACKs, p99", target: "≤ 100 ms" },
    { id: "B2b", what: "TrafficPolicy change → Programmed, p99", target: "≤ 250 ms" },
    {
      id: "B3",
      what: "endpoint churn: bytes and CPU, SotW against delta",
      target: "ratio to go-control-plane",
    },
    { id: "B4", what: "resource encodes = distinct resources, whatever N", target: "equal" },
    { id: "B5", what: "1000 TrafficPolicies: last create → all Accepted and Programmed", target: "≤ 2 s" },
    { id: "B6", what: "server memory per connected proxy, SotW and delta", target: "≤ 32 KiB both" },
    { id: "B7", what: "delta reconnect storm, ratio to the peer", target: "≤ 1.0" },
    { id: "B8", what: "100 real Envoys: API write → every Envoy serving it, p99", target: "≤ 250 ms" },
    {
      id: "B9",
      what: "Envoy memory at 1000 Services calling 5, against a 10-Service mesh",
      target: "within 10%",
    },
    {
      id: "B10",
      what: "latency a pair of sidecars adds (1000 qps, 1 KB), p50 / p99",
      target: "≤ 0.5 ms / ≤ 2 ms",
    },
    { id: "B11", what: "operator memory at idle after 50 reconciles", target: "≤ 150 MiB" },
    { id: "B12", what: "longest event-loop stall of skiff xds in a push to 1000 proxies", target: "≤ 50 ms" },
  ];

export interface SummaryRow {
  readonly id: string;
  readonly what: string;
  readonly target: string;
  readonly value: string;
  readonly met: "yes" | "no" | "—";
  readonly noise: string;
  /** The benchmark and the commit it measured, or why there is no figure. */
  readonly source: string;
}

/** Whether a result's id belongs to a benchmark: "B6" and "B6 sotw" to B6, but not "B61" or "B6b". */
const belongsTo = (resultId: string, id: string) => resultId === id || resultId.startsWith(`${id} `);

const number = (value: number) =>
  value.toLocaleString("en-US", { maximumFractionDigits: Math.abs(value) < 10 ? 2 : 1 });

/**
 * One row per figure of each benchmark, from the newest result file of each;
 * a benchmark no file measured gets one row that says so, so the summary
 * never hides a missing measurement.
 */
export function summaryRows(files: readonly FoundResultFile[]): SummaryRow[] {
  return BENCHMARKS.flatMap((bench) => {
    const rows = files.flatMap((found) =>
      found.file.results
        .filter((result) => belongsTo(result.id, bench.id))
        .map((result): SummaryRow => ({
          id: result.id,
          what: result.what,
          // A breakdown (no target of its own) is not held to its benchmark's target.
          target: result.target == null ? "—" : `${number(result.target)} ${result.unit}`,
          value: result.value === null ? "not measured" : `${number(result.value)} ${result.unit}`,
          met: result.met == null ? "—" : result.met ? "yes" : "no",
          noise: result.noise ?? "",
          source: `${found.name} @ ${found.file.commit}${result.note ? `: ${result.note}` : ""}`,
        })),
    );
    return rows.length > 0
      ? rows
      : [
          {
            id: bench.id,
            what: bench.what,
            target: bench.target,
            value: "not measured",
            met: "—",
            noise: "",
            source: "no benchmark result file has it",
          },
        ];
  });
}
