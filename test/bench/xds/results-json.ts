/**
 * The machine-readable results beside the xDS report
 * (bench/results/xds-<date>.json), in the shape every benchmark of issue 18
 * writes for the summary: the commit measured, the load average around the
 * run, and one entry per B-id or sub-measure ("B6 sotw").
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface BenchResult {
  readonly id: string;
  readonly what: string;
  readonly value: number | null;
  readonly unit: string;
  readonly target?: number | null;
  readonly met?: boolean | null;
  readonly noise?: string;
  readonly note?: string;
}

export const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim();

/** A figure with its bound: met when value ≤ target; a missing value (NaN) is null and unmet. */
export function bounded(result: Omit<BenchResult, "met" | "value"> & { value: number }): BenchResult {
  const value = Number.isFinite(result.value) ? Math.round(result.value * 1000) / 1000 : null;
  const target = result.target ?? null;
  return { ...result, value, met: value === null || target === null ? null : value <= target };
}

export function writeResultsJson(
  dir: string,
  name: string,
  date: string,
  load: { start: string; end: string },
  results: readonly BenchResult[],
): string {
  const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim();
  const file = join(dir, `${name}-${date}.json`);
  writeFileSync(file, `${JSON.stringify({ commit, date, loadavg: load, results }, null, 2)}\n`);
  return file;
}
