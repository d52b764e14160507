/**
 * The machine-readable results every benchmark writes beside its report
 * (bench/results/<name>-<date>.json), which `make bench`'s summary reads:
 * the commit measured, the load average around the run, and one entry per
 * B-id or sub-measure ("B6 sotw").
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One measured figure: a B-id of issue 18's table, or a sub-measure of one ("B6 sotw"). */
export interface BenchResult {
  readonly id: string;
  readonly what: string;
  readonly value: number | null;
  readonly unit: string;
  /** The bound; a figure without one (a breakdown) has none. */
  readonly target?: number | null;
  readonly met?: boolean | null;
  /** How much the figure moves: spread over runs, the percentile's sample size. */
  readonly noise?: string;
  readonly note?: string;
}

export interface BenchResultFile {
  /** The commit measured, taken when the run started (not when the file is written). */
  readonly commit: string;
  readonly date: string;
  readonly loadavg?: { readonly start?: string; readonly end?: string };
  readonly results: readonly BenchResult[];
}

/** The commit checked out in `cwd`, short; read it when a run starts. */
export const checkedOutCommit = (cwd: string) =>
  spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd, encoding: "utf8" }).stdout.trim() || "unknown";

export const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim();

/** A figure with its bound: met when value ≤ target; a missing value (NaN) is null and unmet. */
export function bounded(result: Omit<BenchResult, "met" | "value"> & { value: number }): BenchResult {
  const value = Number.isFinite(result.value) ? Math.round(result.value * 1000) / 1000 : null;
  const target = result.target ?? null;
  return { ...result, value, met: value === null || target === null ? null : value <= target };
}

/** Writes `<dir>/<name>-<date>.json` and returns its path. */
export function writeResultFile(dir: string, name: string, file: BenchResultFile): string {
  const path = join(dir, `${name}-${file.date}.json`);
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`);
  return path;
}
