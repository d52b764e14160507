/** Finding the result files the benchmarks wrote (shared/results-file.ts), and picking the newest of each. */
import type { BenchResultFile } from "../shared/results-file.js";

/** A result file as found on disk: its benchmark's name (the file name before the date) and when it was written. */
export interface FoundResultFile {
  readonly name: string;
  readonly path: string;
  readonly modified: number;
  readonly file: BenchResultFile;
}

const RESULT_FILE = /^(?<name>.+)-(?<date>\d{4}-\d{2}-\d{2})(?<suffix>-[\w-]+)?\.json$/;

/** The benchmark a result file belongs to, or undefined for a file that is not one (summary files included). */
export function benchmarkOf(fileName: string): string | undefined {
  const name = RESULT_FILE.exec(fileName)?.groups?.name;
  return name === undefined || name === "summary" ? undefined : name;
}

/** Throws, naming the file and the field, unless `value` has the shape of a result file. */
export function parseResultFile(path: string, value: unknown): BenchResultFile {
  const fail = (field: string): never => {
    throw new Error(`${path}: ${field} is missing or of the wrong type`);
  };
  if (typeof value !== "object" || value === null) return fail("the document");
  const file = value as Record<string, unknown>;
  if (typeof file.commit !== "string") fail("commit");
  if (typeof file.date !== "string") fail("date");
  if (!Array.isArray(file.results)) fail("results");
  (file.results as unknown[]).forEach((r, i) => {
    const result = r as Record<string, unknown>;
    if (typeof result?.id !== "string") fail(`results[${i}].id`);
    if (typeof result.what !== "string") fail(`results[${i}].what`);
    if (result.value !== null && typeof result.value !== "number") fail(`results[${i}].value`);
    if (typeof result.unit !== "string") fail(`results[${i}].unit`);
  });
  return value as BenchResultFile;
}

/** Of several files of one benchmark, the newest (by its date, then by when it was written). */
export function newestPerBenchmark(found: readonly FoundResultFile[]): FoundResultFile[] {
  const newest = new Map<string, FoundResultFile>();
  for (const candidate of found) {
    const held = newest.get(candidate.name);
    const newer =
      !held ||
      candidate.file.date > held.file.date ||
      (candidate.file.date === held.file.date && candidate.modified > held.modified);
    if (newer) newest.set(candidate.name, candidate);
  }
  return [...newest.values()].sort((a, b) => a.name.localeCompare(b.name));
}
