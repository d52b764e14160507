/**
 * `make bench`'s last step: one table of B1–B12 from the newest result file
 * of each benchmark in bench/results/ (each writes <name>-<date>.json beside
 * its report), written to bench/results/summary-<date>.md with the commit
 * each figure measured.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeReport } from "../shared/report.js";
import { benchmarkOf, newestPerBenchmark, parseResultFile, type FoundResultFile } from "./results.js";
import { summaryRows } from "./table.js";

const RESULTS = fileURLToPath(new URL("../../../bench/results/", import.meta.url));

const found: FoundResultFile[] = readdirSync(RESULTS).flatMap((fileName) => {
  const name = benchmarkOf(fileName);
  if (name === undefined) return [];
  const path = join(RESULTS, fileName);
  const file = parseResultFile(path, JSON.parse(readFileSync(path, "utf8")));
  return [{ name, path, modified: statSync(path).mtimeMs, file }];
});
const files = newestPerBenchmark(found);
const rows = summaryRows(files);
const cell = (s: string) => s.replaceAll("|", "\\|");
const date = new Date().toISOString().slice(0, 10);

const markdown = [
  `# Benchmarks B1–B12: summary, ${date}`,
  "",
  "Written by `make bench` from the newest result file of each benchmark; each report beside it says how its numbers are taken. A figure is comparable only with others of the same run (see bench/README.md).",
  "",
  "## Sources",
  "",
  ...(files.length === 0 ? ["No benchmark has written a result file yet."] : []),
  ...files.map(
    (f) =>
      `- ${f.name}: ${f.path.slice(RESULTS.length)}, commit ${f.file.commit}, ${f.file.date}` +
      (f.file.loadavg ? `, load average ${f.file.loadavg.start ?? "?"} → ${f.file.loadavg.end ?? "?"}` : ""),
  ),
  "",
  "## Results",
  "",
  "| id | what | value | target | met | noise | source |",
  "| --- | --- | --: | --- | --- | --- | --- |",
  ...rows.map(
    (r) =>
      [r.id, r.what, r.value, r.target, r.met, r.noise, r.source].map(cell).join(" | ").replace(/^/, "| ") +
      " |",
  ),
  "",
].join("\n");

await writeReport(markdown, RESULTS, "summary", date);
