/**
 * The xDS benchmark: Skiff's ADS server against a go-control-plane peer, on
 * the same workload in the same run, reported as ratios (tracker issue 7).
 *
 * - The workload is fixture.ts: S Services and E endpoints through Skiff's
 *   real compile and translate. The peer serves exactly the view Skiff serves
 *   a sidecar (checked resource by resource, bytes included).
 * - Each server runs as its own process (skiff-server.ts, compiled with tsc;
 *   `xdsbench peer`), so its CPU time (/proc/<pid>/stat) and memory
 *   (/proc/<pid>/status) are its own. The load is `xdsbench load`: N
 *   simulated Envoy sidecars on ADS from one Go process.
 * - B1 cold fan-out (SotW and delta, each N): a fresh server, N proxies
 *   connect at once; the time from the first connect to the last proxy's ACK
 *   of a complete CDS+EDS+LDS+RDS set, per-proxy time to complete, server
 *   CPU seconds and peak RSS during the run (the peak is reset at the start).
 * - B4: Skiff's skiff_xds_resource_encodes_total after each run; it must
 *   equal the number of distinct resources (each encoded once, however many
 *   proxies). go-control-plane has no such counter.
 * - B6: RSS after a full GC with N proxies held, and its slope between the
 *   smallest and largest N, per proxy.
 * - B7: N proxies connected, the server killed (SIGKILL) and started again
 *   on the same port; time from its READY to the last proxy's re-ACK, and
 *   what was sent again (delta proxies send initial_resource_versions).
 *
 * Writes bench/results/xds-<date>.md and prints it. Flags (or environment):
 *   --services (SERVICES, 1000)  --endpoints (ENDPOINTS, 10000)
 *   --proxies (PROXIES, "1000,5000")  --modes (MODES, "sotw,delta")
 *   --restart-proxies (RESTART_PROXIES, the smallest of --proxies; 0 skips B7)
 *   --churn-proxies (CHURN_PROXIES, the smallest of --proxies; 0 skips B3),
 *     --churn-seconds (CHURN_SECONDS, 60), --churn-rate (CHURN_RATE, 20 changes/s):
 *     B3 endpoint churn (churn.ts)
 *   --repeat (REPEAT, 1): run each benchmark R times, alternating the servers,
 *     and report the median of each measure
 *   --cpu-prof (CPU_PROF=1): afterwards, profile skiff-server in B1 at the
 *     smallest N (both modes) and print its top 10 functions by self time
 *     (not in the table: profiling slows the server down)
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { xdsAllocatorEnv } from "../../../src/controllers/mesh/xds-allocator-env.js";
import { Child } from "../shared/child.js";
import { topSelfTime } from "../shared/cpu-profile.js";
import { cpuSeconds, memoryKiB, resetPeak } from "../shared/proc.js";
import { machine, writeReport } from "../shared/report.js";
import { median, round } from "../shared/stats.js";
import { buildXdsbench, startLoad as startXdsbenchLoad, type Mode } from "../shared/xdsbench.js";
import { churnSection } from "./churn-report.js";
import {
  bounded,
  checkedOutCommit,
  loadavg,
  writeResultFile,
  type BenchResult,
} from "../shared/results-file.js";
import { runChurn, writeChurnFiles, type ChurnRun, type ChurnSettings } from "./churn.js";
import { table, type Row } from "./comparison-table.js";
import { buildFixture, checkViewAgainstSkiff, peerFile } from "./fixture.js";
import { pushStall, writePushFile, type PushFile, type PushStall } from "./push-stall.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const WORK = join(ROOT, ".skiff", "bench", "xds");

const { values: flags } = parseArgs({
  options: {
    services: { type: "string", default: process.env.SERVICES ?? "1000" },
    endpoints: { type: "string", default: process.env.ENDPOINTS ?? "10000" },
    proxies: { type: "string", default: process.env.PROXIES ?? "1000,5000" },
    modes: { type: "string", default: process.env.MODES ?? "sotw,delta" },
    "restart-proxies": { type: "string", default: process.env.RESTART_PROXIES },
    "churn-proxies": { type: "string", default: process.env.CHURN_PROXIES },
    "churn-seconds": { type: "string", default: process.env.CHURN_SECONDS ?? "60" },
    "churn-rate": { type: "string", default: process.env.CHURN_RATE ?? "20" },
    repeat: { type: "string", default: process.env.REPEAT ?? "1" },
    "cpu-prof": { type: "boolean", default: process.env.CPU_PROF === "1" },
    timeout: { type: "string", default: "900" },
    out: { type: "string", default: join(ROOT, "bench", "results") },
  },
});
const SERVICES = Number(flags.services);
const ENDPOINTS = Number(flags.endpoints);
const PROXIES = flags.proxies.split(",").map(Number);
const MODES = flags.modes.split(",") as Mode[];
const RESTART_PROXIES = Number(flags["restart-proxies"] ?? Math.min(...PROXIES));
const TIMEOUT_S = Number(flags.timeout);
const REPEAT = Number(flags.repeat);
const CHURN: ChurnSettings = {
  proxies: Number(flags["churn-proxies"] ?? Math.min(...PROXIES)),
  seconds: Number(flags["churn-seconds"]),
  rate: Number(flags["churn-rate"]),
  modes: MODES,
  repeat: REPEAT,
  timeoutS: TIMEOUT_S,
};
if (
  [SERVICES, ENDPOINTS, RESTART_PROXIES, REPEAT, CHURN.proxies, ...PROXIES].some(
    (n) => !Number.isInteger(n) || n < 0,
  ) ||
  !(CHURN.seconds > 0 && CHURN.rate > 0) ||
  PROXIES.some((n) => n < 1) ||
  REPEAT < 1 ||
  MODES.some((m) => m !== "sotw" && m !== "delta")
)
  throw new Error("bad flags: see the comment at the top of test/bench/xds/run.ts");

type Kind = "skiff" | "peer";
const KINDS: Kind[] = ["skiff", "peer"];
const log = (message: string) => process.stderr.write(`[bench-xds] ${message}\n`);

// ---------------------------------------------------------------- servers

let xdsbench = "";
let peerResources = "";
let skiffServerJs = "";

interface Server {
  readonly kind: Kind;
  readonly child: Child;
  readonly address: string;
  readonly readyAt: number;
}

async function startServer(kind: Kind, address: string, nodeFlags: string[] = []): Promise<Server> {
  const child =
    kind === "skiff"
      ? new Child(
          "skiff-server",
          [
            process.execPath,
            "--expose-gc",
            ...nodeFlags,
            skiffServerJs,
            "--services",
            String(SERVICES),
            "--endpoints",
            String(ENDPOINTS),
            "--address",
            address,
          ],
          // The allocator settings the xDS Deployment runs with (B6 measures its memory).
          { env: { SKIFF_LOG_LEVEL: "warn", ...xdsAllocatorEnv() } },
        )
      : new Child("go-control-plane peer", [
          xdsbench,
          "peer",
          "--resources",
          peerResources,
          "--address",
          address,
        ]);
  const ready = await child.line((l) => l.startsWith("READY "), "READY", 600_000);
  return { kind, child, address: ready.slice("READY ".length), readyAt: Date.now() };
}

/** Full GC (both servers support the `gc` command), then the resident set in KiB. */
async function rssAfterGc(server: Server): Promise<number> {
  server.child.send("gc");
  await server.child.line((l) => l === "GC" || l.startsWith("ERROR"), "GC", 60_000);
  return memoryKiB(server.child.pid, "VmRSS");
}

async function skiffStats(server: Server): Promise<Record<string, number>> {
  server.child.send("stats");
  return (await server.child.json("stats", 60_000)) as Record<string, number>;
}

function startLoad(target: string, proxies: number, mode: Mode, prefix: string, extra: string[]): Child {
  return startXdsbenchLoad(xdsbench, { target, proxies, mode, prefix, timeoutS: TIMEOUT_S, extra });
}

// ---------------------------------------------------------------- benchmarks

interface ColdRun {
  load: Record<string, number | string>;
  serverCpuS: number;
  peakRssKiB: number;
  /** Whether the peak was reset at the start (otherwise it is the process' lifetime peak). */
  peakReset: boolean;
  heldRssKiB: number;
  idleRssKiB: number;
  stats?: Record<string, number>;
  /** B12: one Cluster changed with the N proxies held (push-stall.ts). */
  push?: PushStall;
  /** Skiff: the event loop's longest delay during the fan-out itself (ms). */
  fanOutEventLoopDelayMaxMs?: number;
}

async function coldFanOut(
  kind: Kind,
  mode: Mode,
  proxies: number,
  nodeFlags: string[] = [],
  pushFile?: PushFile,
): Promise<ColdRun> {
  const server = await startServer(kind, "127.0.0.1:0", nodeFlags);
  try {
    const idleRssKiB = await rssAfterGc(server);
    if (kind === "skiff") await skiffStats(server); // resets the event-loop delay for the fan-out
    const peakReset = resetPeak(server.child.pid);
    const cpu0 = cpuSeconds(server.child.pid);
    const load = startLoad(server.address, proxies, mode, `${kind}-${mode}`, ["--hold", "3600"]);
    try {
      const result = await load.json("its result", TIMEOUT_S * 1000 + 60_000);
      const serverCpuS = round(cpuSeconds(server.child.pid) - cpu0);
      const peakRssKiB = memoryKiB(server.child.pid, "VmHWM");
      if (result.event !== "complete" || result.failures !== 0)
        throw new Error(`${kind} ${mode} N=${proxies}: ${JSON.stringify(result)}`);
      const fanOut = kind === "skiff" ? await skiffStats(server) : undefined;
      const heldRssKiB = await rssAfterGc(server);
      // Right after the GC: the heap figures in it are what the held proxies keep.
      const stats = kind === "skiff" ? await skiffStats(server) : undefined;
      const push = pushFile ? await pushStall(kind, server.child, load, pushFile) : undefined;
      return {
        ...(push ? { push } : {}),
        ...(fanOut ? { fanOutEventLoopDelayMaxMs: fanOut.eventLoopDelayMaxMs } : {}),
        load: result,
        serverCpuS,
        peakRssKiB,
        peakReset,
        heldRssKiB,
        idleRssKiB,
        ...(stats ? { stats } : {}),
      };
    } finally {
      await load.stop();
      // Let the server see the connections close: grpc-js' tryShutdown can miss a close racing with it.
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await server.child.stop();
  }
}

interface RestartRun {
  first: Record<string, number | string>;
  second: Record<string, number | string>;
  killToReadyMs: number;
  readyToAllAckedMs: number;
  serverCpuS: number;
}

async function restart(kind: Kind, mode: Mode, proxies: number): Promise<RestartRun> {
  let server = await startServer(kind, "127.0.0.1:0");
  const load = startLoad(server.address, proxies, mode, `${kind}-${mode}-restart`, ["--restart-wait"]);
  try {
    const first = await load.json("its first result", TIMEOUT_S * 1000 + 60_000);
    if (first.event !== "complete" || first.failures !== 0)
      throw new Error(`${kind} ${mode} restart N=${proxies}: ${JSON.stringify(first)}`);
    const killedAt = Date.now();
    await server.child.stop("SIGKILL");
    server = await startServer(kind, server.address);
    const cpu0 = cpuSeconds(server.child.pid);
    const second = await load.json("its result after the restart", TIMEOUT_S * 1000 + 60_000);
    const serverCpuS = round(cpuSeconds(server.child.pid) - cpu0);
    if (second.event !== "restart" || second.failures !== 0)
      throw new Error(`${kind} ${mode} restart N=${proxies}: ${JSON.stringify(second)}`);
    return {
      first,
      second,
      killToReadyMs: server.readyAt - killedAt,
      readyToAllAckedMs: Number(second.lastCompleteUnixMs) - server.readyAt,
      serverCpuS,
    };
  } finally {
    await load.stop();
    await new Promise((r) => setTimeout(r, 1000));
    await server.child.stop();
  }
}

// ---------------------------------------------------------------- the summary's figures

const spread = (values: readonly number[], unit: string) =>
  values.length > 1
    ? `median of ${values.length} runs; range ${Math.min(...values)}-${Math.max(...values)} ${unit}`
    : `one run (REPEAT=1) on a shared 2-core machine: 20-30% between runs has been seen`;

/** One entry per B-id and mode for make bench's summary (shared/results-file.ts); ratios are Skiff/peer. */
function resultsForSummary(
  cold: ReadonlyMap<string, ColdRun[]>,
  restarts: ReadonlyMap<string, RestartRun[]>,
  churn: ReadonlyMap<string, ChurnRun[]> | undefined,
  b4: { encodes: number; distinctResources: number },
): BenchResult[] {
  const results: BenchResult[] = [];
  const lo = Math.min(...PROXIES);
  const hi = Math.max(...PROXIES);
  const runs = <R>(map: ReadonlyMap<string, R[]>, k: string) => map.get(k) ?? [];
  const ratioOfMedians = <R>(map: ReadonlyMap<string, R[]>, k: (kind: Kind) => string, f: (r: R) => number) =>
    median(runs(map, k("skiff")).map(f)) / median(runs(map, k("peer")).map(f));
  for (const mode of MODES) {
    // B1 and B12 at the largest N; B6 is the slope between the smallest and the largest.
    const k = (kind: Kind) => `${kind} ${mode} ${hi}`;
    const totals = runs(cold, k("skiff")).map((r) => Number(r.load.totalMs));
    results.push(
      bounded({
        id: `B1 ${mode}`,
        what: `cold fan-out, N=${hi}: first connect → last complete ACK, Skiff/go-control-plane`,
        value: ratioOfMedians(cold, k, (r) => Number(r.load.totalMs)),
        unit: "ratio",
        target: 1,
        noise: spread(totals, "ms (Skiff)"),
        note: `Skiff ${median(totals)} ms`,
      }),
    );
    const held = (kind: Kind, n: number) =>
      median(runs(cold, `${kind} ${mode} ${n}`).map((r) => r.heldRssKiB));
    const idle = median(runs(cold, `skiff ${mode} ${lo}`).map((r) => r.idleRssKiB));
    const perProxy =
      hi > lo ? (held("skiff", hi) - held("skiff", lo)) / (hi - lo) : (held("skiff", lo) - idle) / lo;
    results.push(
      bounded({
        id: `B6 ${mode}`,
        what: "server memory per connected proxy (RSS after a full GC)",
        value: perProxy,
        unit: "KiB",
        target: 32,
        noise: spread(
          runs(cold, `skiff ${mode} ${hi}`).map((r) => r.heldRssKiB),
          `KiB held RSS at N=${hi}`,
        ),
        note:
          hi > lo
            ? `slope between N=${lo} and N=${hi}`
            : `(RSS with N=${lo} held − RSS of the same process before any proxy) / N: one N only, so no slope`,
      }),
    );
    const pushes = runs(cold, k("skiff")).map((r) => r.push?.eventLoopDelayMaxMs ?? Number.NaN);
    results.push(
      bounded({
        id: `B12 ${mode}`,
        what: `longest event-loop stall of the ADS server during a push to ${hi} proxies (one Cluster changed)`,
        value: median(pushes),
        unit: "ms",
        target: 50,
        noise: `${spread(pushes, "ms")}; monitorEventLoopDelay at 1 ms resolution`,
        note: `p99 ${median(runs(cold, k("skiff")).map((r) => r.push?.eventLoopDelayP99Ms ?? Number.NaN))} ms; change → last ACK Skiff ${median(runs(cold, k("skiff")).map((r) => r.push?.sentToLastAckMs ?? Number.NaN))} ms, go-control-plane ${median(runs(cold, k("peer")).map((r) => r.push?.sentToLastAckMs ?? Number.NaN))} ms; longest stall during B1's fan-out ${median(runs(cold, k("skiff")).map((r) => r.fanOutEventLoopDelayMaxMs ?? Number.NaN))} ms`,
      }),
    );
    if (restarts.has(`skiff ${mode}`) && restarts.has(`peer ${mode}`)) {
      const k7 = (kind: Kind) => `${kind} ${mode}`;
      results.push(
        bounded({
          id: `B7 ${mode}`,
          what: `reconnect storm, N=${RESTART_PROXIES}: server READY → last re-ACK, Skiff/go-control-plane`,
          value: ratioOfMedians(restarts, k7, (r) => r.readyToAllAckedMs),
          unit: "ratio",
          target: 1,
          noise: spread(
            runs(restarts, k7("skiff")).map((r) => r.readyToAllAckedMs),
            "ms (Skiff)",
          ),
          note: "up to ~200 ms of each side is the load generator's reconnect backoff",
        }),
      );
    }
    if (churn?.has(`skiff ${mode}`) && churn.has(`peer ${mode}`)) {
      const counted = (kind: Kind) => (churn.get(`${kind} ${mode}`) ?? []).filter((r) => !r.failure);
      const bytes = (kind: Kind) => median(counted(kind).map((r) => Number(r.window.bytesReceived)));
      results.push(
        bounded({
          id: `B3 ${mode}`,
          what: "endpoint churn: bytes the proxies received, Skiff/go-control-plane",
          value: bytes("skiff") / bytes("peer"),
          unit: "ratio",
          target: null,
          noise: spread(
            counted("skiff").map((r) => Number(r.window.bytesReceived)),
            "bytes (Skiff)",
          ),
        }),
      );
    }
  }
  results.push(
    bounded({
      id: "B4",
      what: "resource encodes after serving N proxies (must equal the distinct resources)",
      value: b4.encodes,
      unit: "encodes",
      target: b4.distinctResources,
      note: `${b4.distinctResources} distinct resources`,
    }),
  );
  return results;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const loadStart = loadavg();
  const commit = checkedOutCommit(ROOT);
  mkdirSync(WORK, { recursive: true });
  log("building xdsbench (hack/xdsbench/build.sh)");
  xdsbench = buildXdsbench();

  log("compiling skiff-server.ts (tsc -p test/bench/xds/tsconfig.json)");
  const buildDir = join(WORK, "build");
  rmSync(buildDir, { recursive: true, force: true });
  const tsc = spawnSync(
    join(ROOT, "node_modules", ".bin", "tsc"),
    ["-p", join(ROOT, "test/bench/xds/tsconfig.json")],
    {
      encoding: "utf8",
    },
  );
  skiffServerJs = join(buildDir, "test", "bench", "xds", "skiff-server.js");
  if (!existsSync(skiffServerJs))
    throw new Error(`tsc did not emit ${skiffServerJs}:\n${tsc.stdout}${tsc.stderr}`);
  if (tsc.status !== 0) log(`tsc reported type errors (it still emitted):\n${tsc.stdout}`);
  copyFileSync(join(ROOT, "src/xds/protos/envoy.binpb"), join(buildDir, "src/xds/protos/envoy.binpb"));

  log(`building the fixture: ${SERVICES} Services, ${ENDPOINTS} endpoints`);
  const fixture = buildFixture({ services: SERVICES, endpoints: ENDPOINTS });
  const view = checkViewAgainstSkiff(fixture);
  peerResources = join(WORK, `resources-${SERVICES}-${ENDPOINTS}.json`);
  writeFileSync(peerResources, JSON.stringify(peerFile(fixture.sidecarView)));
  const viewCount = fixture.sidecarView.length;
  const pushFile = writePushFile(fixture, WORK);
  log(`sidecar view: ${viewCount} resources (${JSON.stringify(view.byType)}), ${view.bytes} bytes encoded`);

  // Runs alternate between the servers, so that a slow spell of the machine hits both.
  const cold = new Map<string, ColdRun[]>();
  const key = (kind: Kind, mode: Mode, n: number) => `${kind} ${mode} ${n}`;
  for (const n of PROXIES)
    for (const mode of MODES)
      for (let r = 1; r <= REPEAT; r++)
        for (const kind of KINDS) {
          log(`B1 ${kind} ${mode} N=${n}${REPEAT > 1 ? ` (run ${r} of ${REPEAT})` : ""}`);
          const run = await coldFanOut(kind, mode, n, [], pushFile);
          cold.set(key(kind, mode, n), [...(cold.get(key(kind, mode, n)) ?? []), run]);
          log(
            `  ${JSON.stringify({ ...run.load, serverCpuS: run.serverCpuS, peakRssKiB: run.peakRssKiB, push: run.push, fanOutEventLoopDelayMaxMs: run.fanOutEventLoopDelayMaxMs })}`,
          );
        }

  const restarts = new Map<string, RestartRun[]>();
  if (RESTART_PROXIES > 0)
    for (const mode of MODES)
      for (let r = 1; r <= REPEAT; r++)
        for (const kind of KINDS) {
          log(`B7 ${kind} ${mode} N=${RESTART_PROXIES}${REPEAT > 1 ? ` (run ${r} of ${REPEAT})` : ""}`);
          const run = await restart(kind, mode, RESTART_PROXIES);
          restarts.set(`${kind} ${mode}`, [...(restarts.get(`${kind} ${mode}`) ?? []), run]);
          log(
            `  ${JSON.stringify({ ...run.second, readyToAllAckedMs: run.readyToAllAckedMs, killToReadyMs: run.killToReadyMs })}`,
          );
        }

  let churn: { runs: Map<string, ChurnRun[]>; section: ReturnType<typeof churnSection> } | undefined;
  if (CHURN.proxies > 0) {
    log(`B3: computing ${Math.round(CHURN.seconds * CHURN.rate)} endpoint changes (compile and translate)`);
    const options = { services: SERVICES, endpoints: ENDPOINTS };
    const files = writeChurnFiles(options, fixture, CHURN, join(WORK, `churn-${SERVICES}-${ENDPOINTS}`));
    const harness = { startServer: (kind: Kind) => startServer(kind, "127.0.0.1:0"), startLoad, log };
    const runs = await runChurn(harness, files, CHURN);
    churn = { runs, section: churnSection(runs, CHURN, files, view.byType.endpoints ?? 0) };
  }

  // ------------------------------------------------------------ the table
  const rows: Row[] = [];
  const modeName = (m: Mode) => (m === "sotw" ? "SotW" : "delta");
  /** The median over a benchmark's runs of one measure, for each server. */
  const both = <R>(runs: Map<string, R[]>, k: (kind: Kind) => string, f: (run: R) => number) => ({
    skiff: median(runs.get(k("skiff"))!.map(f)),
    peer: median(runs.get(k("peer"))!.map(f)),
  });
  let allPeaksReset = true;
  for (const n of PROXIES)
    for (const mode of MODES) {
      const p = `B1 ${modeName(mode)} N=${n}:`;
      const b1 = (f: (run: ColdRun) => number) => both(cold, (kind) => key(kind, mode, n), f);
      const num = (field: string) => (run: ColdRun) => Number(run.load[field]);
      rows.push({ measure: `${p} first connect → last complete ACK (ms)`, ...b1(num("totalMs")) });
      rows.push({ measure: `${p} per-proxy time to complete, p50 (ms)`, ...b1(num("p50Ms")) });
      rows.push({ measure: `${p} per-proxy time to complete, p99 (ms)`, ...b1(num("p99Ms")) });
      rows.push({ measure: `${p} server CPU (s)`, ...b1((r) => r.serverCpuS), digits: 2 });
      rows.push({ measure: `${p} server peak RSS (MiB)`, ...b1((r) => r.peakRssKiB / 1024) });
      rows.push({
        measure: `${p} bytes received by the proxies (MB)`,
        ...b1((r) => Number(r.load.bytesReceived) / 1e6),
        digits: 1,
      });
      rows.push({ measure: `${p} load generator CPU (s)`, ...b1(num("clientCpuSeconds")), digits: 2 });
      for (const k of KINDS) allPeaksReset &&= cold.get(key(k, mode, n))!.every((r) => r.peakReset);
    }
  for (const n of PROXIES)
    for (const mode of MODES) {
      const p = `B12 ${modeName(mode)} N=${n}, one Cluster changed:`;
      const b12 = (f: (run: ColdRun) => number) => both(cold, (kind) => key(kind, mode, n), f);
      const skiffOnly = (f: (run: ColdRun) => number | undefined) => ({
        skiff: b12((r) => f(r) ?? Number.NaN).skiff,
        peerText: "n/a (Go, no event loop)",
      });
      rows.push({
        measure: `${p} change sent → last proxy ACK (ms)`,
        ...b12((r) => r.push!.sentToLastAckMs),
      });
      rows.push({
        measure: `${p} Skiff's longest event-loop delay (ms)`,
        ...skiffOnly((r) => r.push?.eventLoopDelayMaxMs),
        digits: 1,
      });
      rows.push({
        measure: `${p} Skiff's event-loop delay, p99 (ms)`,
        ...skiffOnly((r) => r.push?.eventLoopDelayP99Ms),
        digits: 1,
      });
      rows.push({
        measure: `B12 ${modeName(mode)} N=${n}: longest event-loop delay during B1's fan-out (ms)`,
        ...skiffOnly((r) => r.fanOutEventLoopDelayMaxMs),
        digits: 1,
      });
    }
  const encodes = [...cold]
    .filter(([k]) => k.startsWith("skiff"))
    .flatMap(([k, runs]) => runs.map((run) => [k, run.stats!.encodes!] as const));
  const encodeValues = [...new Set(encodes.map(([, e]) => e))];
  const encodesOk = encodeValues.length === 1 && encodeValues[0] === fixture.distinctResources;
  rows.push({
    measure: `B4 resource encodes after serving N proxies (distinct resources: ${fixture.distinctResources})`,
    skiff: Math.max(...encodeValues),
    peerText: "n/a (no counter)",
  });
  const lo = Math.min(...PROXIES);
  const hi = Math.max(...PROXIES);
  for (const mode of MODES) {
    const held = (n: number) =>
      both(
        cold,
        (kind) => key(kind, mode, n),
        (r) => r.heldRssKiB,
      );
    rows.push({
      measure: `B6 ${modeName(mode)}: RSS with N=${lo} held, after GC (MiB)`,
      skiff: held(lo).skiff / 1024,
      peer: held(lo).peer / 1024,
    });
    if (hi > lo) {
      rows.push({
        measure: `B6 ${modeName(mode)}: RSS with N=${hi} held, after GC (MiB)`,
        skiff: held(hi).skiff / 1024,
        peer: held(hi).peer / 1024,
      });
      rows.push({
        measure: `B6 ${modeName(mode)}: RSS per held proxy, N=${lo}→${hi} (KiB)`,
        skiff: (held(hi).skiff - held(lo).skiff) / (hi - lo),
        peer: (held(hi).peer - held(lo).peer) / (hi - lo),
        digits: 1,
      });
      const skiffAt = (n: number, field: string) =>
        median(cold.get(key("skiff", mode, n))!.map((r) => r.stats?.[field] ?? Number.NaN));
      for (const [field, what] of [
        ["heapUsedKiB", "V8 heap used"],
        ["externalKiB", "memory outside V8's heap (Buffers)"],
      ] as const)
        rows.push({
          measure: `B6 ${modeName(mode)}: of which ${what}, per held proxy (KiB)`,
          skiff: (skiffAt(hi, field) - skiffAt(lo, field)) / (hi - lo),
          peerText: "n/a",
          digits: 1,
        });
    }
  }
  for (const mode of MODES) {
    if (!restarts.has(`skiff ${mode}`) || !restarts.has(`peer ${mode}`)) continue;
    const p = `B7 ${modeName(mode)} N=${RESTART_PROXIES}:`;
    const b7 = (f: (run: RestartRun) => number) => both(restarts, (kind) => `${kind} ${mode}`, f);
    const num = (field: string) => (run: RestartRun) => Number(run.second[field]);
    rows.push({ measure: `${p} server READY → last re-ACK (ms)`, ...b7((r) => r.readyToAllAckedMs) });
    rows.push({
      measure: `${p} first reopened stream → last re-ACK (ms)`,
      ...b7(num("reopenToLastCompleteMs")),
    });
    rows.push({
      measure: `${p} bytes sent again to the proxies (MB)`,
      ...b7((r) => Number(r.second.bytesResent) / 1e6),
      digits: 3,
    });
    rows.push({ measure: `${p} responses sent again`, ...b7(num("responsesResent")) });
    rows.push({
      measure: `${p} bytes the proxies sent (subscriptions, initial versions, ACKs; MB)`,
      ...b7((r) => Number(r.second.requestBytes) / 1e6),
      digits: 2,
    });
    rows.push({ measure: `${p} server CPU after READY (s)`, ...b7((r) => r.serverCpuS), digits: 2 });
    rows.push({
      measure: `${p} kill → READY (ms; Skiff also compiles and translates)`,
      ...b7((r) => r.killToReadyMs),
    });
  }

  const date = new Date().toISOString().slice(0, 10);
  const viewTypes = Object.entries(view.byType)
    .map(([t, c]) => `${c} ${t}`)
    .join(", ");
  const markdown = [
    `# xDS benchmark: Skiff and go-control-plane, ${date}`,
    "",
    `Produced by \`make bench-xds\` (test/bench/xds/run.ts). Every number below was measured in this run; a ratio compares two measurements of the same run.`,
    "",
    "## Machine",
    "",
    ...machine("load generator and peer").map((l) => `- ${l}`),
    "",
    "## Workload",
    "",
    `- ${SERVICES} Services (one HTTP port each) and ${ENDPOINTS} endpoints in one namespace, through Skiff's compile and translate (compile ${fixture.compileMs.toFixed(0)} ms, translate ${fixture.translateMs.toFixed(0)} ms).`,
    `- Each proxy's view: ${viewCount} resources (${viewTypes}), ${(view.bytes / 1e6).toFixed(2)} MB encoded. The peer serves the same view, checked against what Skiff serves, resource by resource.`,
    `- Proxies: Envoy-sidecar node ids (\`sidecar~10.0.0.1~<prefix>-<i>.bench~bench.svc.cluster.local\`), simulated by \`xdsbench load\` (grpc-go), 100 ADS streams per connection, all started at once. A proxy is complete when it has ACKed CDS, EDS, LDS and RDS with every resource it subscribed to.`,
    `- Servers: Skiff's AdsServer + MeshSnapshots (log level warn) in its own Node.js process; go-control-plane's server with a snapshot cache in ADS mode (one snapshot for every node) in its own Go process. Fresh server process per run.`,
    "",
    "## Results",
    "",
    table(rows),
    "",
    "Notes:",
    "",
    `- Server CPU and RSS come from /proc/<pid>/stat and /proc/<pid>/status of the server process. ${allPeaksReset ? "Peak RSS is the VmHWM of the run alone (reset through /proc/<pid>/clear_refs after the server was ready)." : "Peak RSS is the process' lifetime VmHWM (the kernel refused to reset it), so it includes start-up."}`,
    `- B4: Skiff's skiff_xds_resource_encodes_total ${encodesOk ? `was ${fixture.distinctResources} after every run: each distinct resource of the translation (including those no sidecar receives, such as the proxyless listeners) is encoded once, whatever N.` : `did NOT equal the number of distinct resources in every run: ${JSON.stringify(Object.fromEntries(encodes))}.`} go-control-plane marshals the resources of every response it sends (pkg/cache/v3 cachedResource, per response).`,
    "- B6: RSS is read after a full garbage collection in each server (`gc` command: V8 with --expose-gc, Go runtime.GC plus debug.FreeOSMemory) while the N proxies are still connected.",
    `- B7: after the kill the load generator's gRPC connections retry every 50-200 ms, so up to about 200 ms of "READY → last re-ACK" is the client's backoff; "first reopened stream" leaves it out. Bytes and responses are counted until none has arrived for 0.5 s after the last proxy was complete. Delta proxies reconnect with initial_resource_versions; both servers answer only the wildcard (CDS, LDS) requests of such a proxy when nothing changed, not the named (EDS, RDS) ones.`,
    `- ${REPEAT > 1 ? `Each number is the median of ${REPEAT} runs (each on a fresh server process, the servers alternating); the raw results list every run.` : "Each number comes from one run; run-to-run differences of 20-30% have been seen on a shared 2-core machine, so REPEAT=3 gives medians."}`,
    '- B12: with the N proxies of B1 still held, one Cluster changes (its alt_stat_name set to a marker, push-stall.ts): SotW proxies get their whole CDS again, delta proxies the cluster and its endpoints. "change sent" is when the benchmark sent the server its publish (Skiff) or apply (peer) command; the last ACK is when the load generator saw the last proxy ACK a response holding the marker. Skiff\'s event-loop delay is perf_hooks.monitorEventLoopDelay at 1 ms resolution in the server process, reset just before the change; "during B1\'s fan-out" is the same from before the proxies connect until all are complete.',
    "- go-control-plane serves from as many threads as there are cores (GOMAXPROCS); Skiff's JavaScript runs on one thread (V8 collects garbage on helper threads too). Server CPU seconds count every thread.",
    "- The load generator shares the cores with the server under test; its own CPU is in the table to show how much it took.",
    "",
    ...(churn?.section.markdown ?? []),
    "## Raw results",
    "",
    "```json",
    ...[...cold].flatMap(([k, runs]) =>
      runs.map((run) =>
        JSON.stringify({
          run: `B1 ${k}`,
          ...run.load,
          serverCpuS: run.serverCpuS,
          peakRssKiB: run.peakRssKiB,
          heldRssKiB: run.heldRssKiB,
          idleRssKiB: run.idleRssKiB,
          ...(run.stats ? { skiff: run.stats } : {}),
          ...(run.push ? { push: run.push } : {}),
          ...(run.fanOutEventLoopDelayMaxMs !== undefined
            ? { fanOutEventLoopDelayMaxMs: run.fanOutEventLoopDelayMaxMs }
            : {}),
        }),
      ),
    ),
    ...[...restarts].flatMap(([k, runs]) =>
      runs.map((run) =>
        JSON.stringify({
          run: `B7 ${k}`,
          ...run.second,
          readyToAllAckedMs: run.readyToAllAckedMs,
          killToReadyMs: run.killToReadyMs,
          serverCpuS: run.serverCpuS,
        }),
      ),
    ),
    ...(churn?.section.raw ?? []),
    "```",
    "",
  ].join("\n");
  const file = await writeReport(markdown, flags.out, "xds", date);
  log(`wrote ${relative(ROOT, file)}`);
  const results = resultsForSummary(cold, restarts, churn?.runs, {
    encodes: Math.max(...encodeValues),
    distinctResources: fixture.distinctResources,
  });
  const json = writeResultFile(flags.out, "xds", {
    commit,
    date,
    loadavg: { start: loadStart, end: loadavg() },
    results,
  });
  log(`wrote ${relative(ROOT, json)}`);

  if (flags["cpu-prof"]) {
    for (const mode of MODES) {
      const dir = join(WORK, `prof-${mode}`);
      rmSync(dir, { recursive: true, force: true });
      log(`CPU profile of skiff-server, B1 ${mode} N=${lo} (not in the table: profiling slows it down)`);
      await coldFanOut("skiff", mode, lo, ["--cpu-prof", "--cpu-prof-dir", dir]);
      const profile = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
      if (!profile) throw new Error(`no .cpuprofile in ${dir}`);
      console.log(
        `\nskiff-server, B1 ${mode} N=${lo}: top 10 functions by self time (${relative(ROOT, join(dir, profile))})`,
      );
      for (const line of topSelfTime(join(dir, profile), 10)) console.log(`  ${line}`);
    }
  }
}

await main();
