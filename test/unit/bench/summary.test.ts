import { strict as assert } from "node:assert";
import type { BenchResultFile } from "../../bench/shared/results-file.js";
import {
  benchmarkOf,
  newestPerBenchmark,
  parseResultFile,
  type FoundResultFile,
} from "../../bench/summary/results.js";
import { BENCHMARKS, summaryRows } from "../../bench/summary/table.js";

const found = (name: string, date: string, modified: number, results: BenchResultFile["results"]) =>
  ({
    name,
    path: `${name}-${date}.json`,
    modified,
    file: { commit: `c-${name}-${modified}`, date, results },
  }) as FoundResultFile;

describe("make bench's summary of B1–B12", () => {
  it("reads a benchmark's name from its result file and skips the summary's own", () => {
    assert.equal(benchmarkOf("xds-2026-12-04.json"), "xds");
    assert.equal(benchmarkOf("convergence-2026-12-04-optimised.json"), "convergence");
    assert.equal(benchmarkOf("summary-2026-12-04.json"), undefined);
    assert.equal(benchmarkOf("xds-2026-12-04.md"), undefined);
  });

  it("refuses a result file without its fields, naming the field", () => {
    assert.throws(
      () => parseResultFile("f.json", { commit: "a", date: "d", results: [{ id: "B2" }] }),
      /f\.json: results\[0\]\.what/,
    );
    assert.throws(() => parseResultFile("f.json", { date: "d", results: [] }), /f\.json: commit/);
  });

  it("keeps the newest file of each benchmark, by date and then by when it was written", () => {
    const kept = newestPerBenchmark([
      found("xds", "2026-12-03", 9, []),
      found("xds", "2026-12-04", 1, []),
      found("xds", "2026-12-04", 2, []),
      found("envoy", "2026-12-01", 1, []),
    ]);
    assert.deepEqual(
      kept.map((f) => f.file.commit),
      ["c-envoy-1", "c-xds-2"],
    );
  });

  it("lists every benchmark, each figure of a measured one and a 'not measured' row for the others", () => {
    const rows = summaryRows([
      found("xds", "2026-12-04", 1, [
        { id: "B6 sotw", what: "per proxy", value: 30.5, unit: "KiB", target: 32, met: true },
        { id: "B6 delta", what: "per proxy", value: 40, unit: "KiB", target: 32, met: false, noise: "±2" },
        { id: "B12", what: "stall", value: null, unit: "ms" },
      ]),
    ]);
    assert.deepEqual(
      rows.map((r) => r.id),
      ["B1", "B2", "B2b", "B3", "B4", "B5", "B6 sotw", "B6 delta", "B7", "B8", "B9", "B10", "B11", "B12"],
    );
    const b6 = rows.filter((r) => r.id.startsWith("B6"));
    assert.deepEqual(
      b6.map((r) => [r.value, r.target, r.met, r.noise]),
      [
        ["30.5 KiB", "32 KiB", "yes", ""],
        ["40 KiB", "32 KiB", "no", "±2"],
      ],
    );
    assert.equal(rows.find((r) => r.id === "B12")?.value, "not measured");
    assert.equal(rows.find((r) => r.id === "B12")?.target, "—", "a figure without a target is held to none");
    assert.equal(rows.find((r) => r.id === "B1")?.target, "ratio to go-control-plane");
    assert.equal(rows.find((r) => r.id === "B2")?.source, "no benchmark result file has it");
    assert.equal(BENCHMARKS.length, 13);
  });

  it("does not take B2b's figure for B2, nor B1's for B10", () => {
    const rows = summaryRows([
      found("convergence", "2026-12-04", 1, [{ id: "B2b", what: "p99", value: 200, unit: "ms" }]),
      found("envoy", "2026-12-04", 1, [{ id: "B10 p50", what: "added", value: 0.4, unit: "ms" }]),
    ]);
    assert.equal(rows.find((r) => r.id === "B2")?.value, "not measured");
    assert.equal(rows.find((r) => r.id === "B2b")?.value, "200 ms");
    assert.equal(rows.find((r) => r.id === "B1")?.value, "not measured");
    assert.equal(rows.find((r) => r.id === "B10 p50")?.value, "0.4 ms");
  });
});
