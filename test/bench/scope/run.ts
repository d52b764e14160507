/**
 * B9 (issue 18): an Envoy sidecar's memory at 1000 Services when its
 * workload calls 5 of them and is scoped to those 5
 * (sidecar.skiff.dev/egressHosts), against the same Envoy in a 10-Service
 * mesh (target: within 10%), and the unscoped Envoy at 1000 Services for
 * contrast. Real Envoys (--concurrency 1, the sidecar bootstrap) on
 * loopback, served by Skiff's compile, translate, MeshSnapshots and
 * AdsServer in this process (mesh.ts); no API server, as what is measured is
 * what the Envoy holds, not how the change got there. No traffic is sent:
 * the memory is that of the configuration.
 *
 * Each run starts fresh Envoys per mesh, waits until each has applied its
 * configuration and its cluster count is steady, and reads Envoy's own
 * server.memory_allocated (tcmalloc's bytes in use: what the configuration
 * costs, less noisy than RSS) and the process's RSS. Medians over --runs.
 *
 * Flags (or environment): --runs (RUNS, 3)  --services (SERVICES, 1000)
 *   --small (SMALL, 10): the small mesh's Services  --out (bench/results)
 * Writes bench/results/scope-<date>.md and .json.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { envoyBinary } from "../../../src/localnode/tools.js";
import { adminGet, closeAdminConnections } from "../envoy/admin.js";
import { EnvoyFleet, type Envoy } from "../envoy/envoys.js";
import { fmt, machine, writeReport } from "../shared/report.js";
import { checkedOutCommit, loadavg, writeResultFile, type BenchResult } from "../shared/results-file.js";
import { median } from "../shared/stats.js";
import { SCOPED, SCOPED_CLIENT, serveMesh, UNSCOPED_CLIENT } from "./mesh.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
// The server's per-stream info lines would drown the progress; warnings still show.
process.env.SKIFF_LOG_LEVEL ??= "warn";
const { values: flags } = parseArgs({
  options: {
    runs: { type: "string", default: process.env.RUNS ?? "3" },
    services: { type: "string", default: process.env.SERVICES ?? "1000" },
    small: { type: "string", default: process.env.SMALL ?? "10" },
    out: { type: "string", default: join(ROOT, "bench", "results") },
  },
});
const runs = Number(flags.runs);
const large = Number(flags.services);
const small = Number(flags.small);
const log = (message: string) => process.stderr.write(`[bench-scope] ${message}\n`);

/** What one Envoy held and cost once settled. */
interface Reading {
  allocatedMiB: number;
  heapMiB: number;
  rssMiB: number;
  activeClusters: number;
}

async function stats(envoy: Envoy): Promise<Map<string, number>> {
  const body = await adminGet(envoy.adminPort, "/stats?filter=^(server\\.memory|cluster_manager\\.)");
  const found = new Map<string, number>();
  for (const line of body.split("\n")) {
    const match = /^(\S+): (\d+)$/.exec(line.trim());
    if (match) found.set(match[1]!, Number(match[2]));
  }
  return found;
}

/** Waits until the Envoy holds a configuration (CDS applied, nothing warming, the same cluster count three reads running), then reads it. */
async function settled(envoy: Envoy): Promise<Reading> {
  const deadline = Date.now() + 180_000;
  let last = -1;
  let steady = 0;
  for (;;) {
    const s = await stats(envoy);
    const active = s.get("cluster_manager.active_clusters") ?? 0;
    const ready =
      (s.get("cluster_manager.cds.update_success") ?? 0) > 0 &&
      s.get("cluster_manager.warming_clusters") === 0;
    steady = ready && active === last ? steady + 1 : 0;
    last = active;
    if (steady >= 3) break;
    if (Date.now() > deadline)
      throw new Error(`envoy ${envoy.index} did not settle: ${JSON.stringify([...s])}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const s = await stats(envoy);
  const status = readFileSync(`/proc/${envoy.child.pid}/status`, "utf8");
  return {
    allocatedMiB: (s.get("server.memory_allocated") ?? NaN) / 2 ** 20,
    heapMiB: (s.get("server.memory_heap_size") ?? NaN) / 2 ** 20,
    rssMiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024,
    activeClusters: s.get("cluster_manager.active_clusters") ?? 0,
  };
}

/** Both clients' Envoys in a mesh of `services` Services: [scoped, unscoped]. */
async function measureMesh(binary: string, services: number): Promise<[Reading, Reading]> {
  const mesh = await serveMesh(services);
  const fleet = await EnvoyFleet.start(binary, mesh.address, 2);
  try {
    await fleet.ready(180_000);
    return [await settled(fleet.envoys[SCOPED_CLIENT]!), await settled(fleet.envoys[UNSCOPED_CLIENT]!)];
  } finally {
    await fleet.stop();
    await mesh.stop();
  }
}

const start = loadavg();
const commit = checkedOutCommit(ROOT);
const binary = await envoyBinary();
const readings = {
  smallMesh: [] as Reading[],
  smallScoped: [] as Reading[],
  scoped: [] as Reading[],
  unscoped: [] as Reading[],
};
for (let run = 1; run <= runs; run++) {
  log(`run ${run}/${runs}: ${small}-Service mesh`);
  const [scoped10, whole10] = await measureMesh(binary, small);
  readings.smallMesh.push(whole10);
  readings.smallScoped.push(scoped10);
  log(`run ${run}/${runs}: ${large}-Service mesh`);
  const [scoped, whole] = await measureMesh(binary, large);
  readings.scoped.push(scoped);
  readings.unscoped.push(whole);
  log(JSON.stringify({ whole10, scoped10, scoped, whole }));
}
closeAdminConnections();
const end = loadavg();

const med = (list: Reading[], key: keyof Reading) => median(list.map((r) => r[key]));
const range = (list: Reading[], key: keyof Reading) =>
  `${fmt(Math.min(...list.map((r) => r[key])), 2)}-${fmt(Math.max(...list.map((r) => r[key])), 2)}`;
const ratio = med(readings.scoped, "allocatedMiB") / med(readings.smallMesh, "allocatedMiB");
const rssRatio = med(readings.scoped, "rssMiB") / med(readings.smallMesh, "rssMiB");
const date = new Date().toISOString().slice(0, 10);

const row = (what: string, list: Reading[]) =>
  `| ${what} | ${fmt(med(list, "activeClusters"))} | ${fmt(med(list, "allocatedMiB"), 2)} (${range(list, "allocatedMiB")}) | ${fmt(med(list, "heapMiB"), 2)} | ${fmt(med(list, "rssMiB"), 1)} (${range(list, "rssMiB")}) |`;
const markdown = [
  `# B9: Envoy sidecar memory with an egress scope (${date}, commit ${commit})`,
  "",
  ...machine("not used").map((line) => `- ${line}`),
  `- load average at start ${start}, at end ${end} (the machine is shared: other work ran beside this)`,
  `- ${runs} run(s); medians, with the range over runs in parentheses. Envoy 1.40 with --concurrency 1 and the sidecar bootstrap; each mesh's Services have 10 endpoints each and one HTTP port; no traffic.`,
  "",
  "| Envoy | active clusters | memory_allocated MiB | heap MiB | RSS MiB |",
  "|---|---|---|---|---|",
  row(`${small}-Service mesh, unscoped`, readings.smallMesh),
  row(`${small}-Service mesh, scoped to the same ${SCOPED}`, readings.smallScoped),
  row(`${large}-Service mesh, scoped to the ${SCOPED} it calls`, readings.scoped),
  row(`${large}-Service mesh, unscoped`, readings.unscoped),
  "",
  `B9: the scoped Envoy at ${large} Services allocates ${fmt(ratio, 3)}× what the same Envoy does in a ${small}-Service mesh (RSS ${fmt(rssRatio, 3)}×); target ≤ 1.10×: ${ratio <= 1.1 ? "met" : "not met"}. Scoped to the same ${SCOPED} in both meshes: ${fmt(med(readings.scoped, "allocatedMiB") / med(readings.smallScoped, "allocatedMiB"), 3)}×. Unscoped at ${large} Services it allocates ${fmt(med(readings.unscoped, "allocatedMiB") / med(readings.smallMesh, "allocatedMiB"), 1)}×.`,
  "",
].join("\n");
const file = await writeReport(markdown, flags.out!, "scope", date);
const result = (
  id: string,
  what: string,
  value: number,
  unit: string,
  noise: string,
  extra: object = {},
): BenchResult => ({
  id,
  what,
  value: Math.round(value * 1000) / 1000,
  unit,
  noise,
  ...extra,
});
writeResultFile(flags.out!, "scope", {
  commit,
  date,
  loadavg: { start, end },
  results: [
    result(
      "B9",
      `Envoy memory_allocated at ${large} Services scoped to the ${SCOPED} it calls, over the same Envoy in a ${small}-Service mesh`,
      ratio,
      "ratio",
      `medians of ${runs} runs; scoped ${range(readings.scoped, "allocatedMiB")} MiB, ${small}-Service ${range(readings.smallMesh, "allocatedMiB")} MiB`,
      { target: 1.1, met: ratio <= 1.1, note: `RSS ratio ${fmt(rssRatio, 3)}` },
    ),
    result(
      "B9 scoped",
      `memory_allocated, ${large} Services, scoped to ${SCOPED}`,
      med(readings.scoped, "allocatedMiB"),
      "MiB",
      `range ${range(readings.scoped, "allocatedMiB")} over ${runs} runs`,
    ),
    result(
      "B9 small mesh",
      `memory_allocated, ${small}-Service mesh, unscoped`,
      med(readings.smallMesh, "allocatedMiB"),
      "MiB",
      `range ${range(readings.smallMesh, "allocatedMiB")} over ${runs} runs`,
    ),
    result(
      "B9 unscoped",
      `memory_allocated, ${large} Services, unscoped (for contrast)`,
      med(readings.unscoped, "allocatedMiB"),
      "MiB",
      `range ${range(readings.unscoped, "allocatedMiB")} over ${runs} runs`,
    ),
  ],
});
log(`wrote ${file} and its .json`);
process.exit(0);
