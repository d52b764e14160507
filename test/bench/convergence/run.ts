/**
 * The convergence benchmark (issue 7, B2 and B5), Skiff only: a real
 * kube-apiserver and etcd, the real `skiff xds` process (the built dist/),
 * and `xdsbench load` holding N simulated Envoy sidecars on it.
 *
 * - The API server holds the xDS benchmark's synthetic cluster (cluster.ts).
 * - B2 (b2.ts): one change at a time, an EndpointSlice or a TrafficPolicy,
 *   from the API write to the last proxy's ACK of a response carrying it.
 * - B5 (b5.ts): one TrafficPolicy per Service, created at once; until all are
 *   created, Accepted=True and Programmed=True.
 *
 * Writes bench/results/convergence-<date>.md and prints it. Flags (or environment):
 *   --services (SERVICES, 1000)  --endpoints (ENDPOINTS, 10000; at least one per Service)
 *   --proxies (PROXIES, 1000): N for B2  --modes (MODES, "sotw"; "sotw,delta" runs both)
 *   --changes (CHANGES, 50): changes of each kind
 *   --b5-proxies (B5_PROXIES, N): proxies connected during B5; 0 skips B5
 *   --b5-concurrency (B5_CONCURRENCY, 16): creates in flight
 *   --debounce-ms (DEBOUNCE_MS, the server's default): passed to skiff xds
 *   --cpu-prof (CPU_PROF=1): profile skiff xds over the whole run and print
 *     its top 20 functions by self time afterwards (the numbers are then
 *     those of a profiled server, and the report says so)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { LocalControlPlane } from "../../../src/controlplane/controlplane.js";
import { translate } from "../../../src/xds/translate/translate.js";
import { topSelfTime } from "../shared/cpu-profile.js";
import { cpuSeconds, memoryKiB, resetPeak } from "../shared/proc.js";
import { writeReport } from "../shared/report.js";
import { writeResultFile } from "../shared/results-file.js";
import { median } from "../shared/stats.js";
import { buildXdsbench } from "../shared/xdsbench.js";
import { measureChange, WriteWatch, type ChangeSample } from "./b2.js";
import { deletePolicies, measurePolicyCreation } from "./b5.js";
import { ChangeWriter } from "./changes.js";
import { clockDriftMs } from "./clock.js";
import { seedCluster, seedState } from "./cluster.js";
import { Load, type Mode } from "./load.js";
import { convergenceReport, type ModeRun, type Settings } from "./report.js";
import { convergenceResults } from "./results.js";
import { startXds, waitIdle, type XdsProcess } from "./xds-process.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROFILE_DIR = join(ROOT, ".skiff", "bench", "convergence", "prof");

const { values: flags } = parseArgs({
  options: {
    services: { type: "string", default: process.env.SERVICES ?? "1000" },
    endpoints: { type: "string", default: process.env.ENDPOINTS ?? "10000" },
    proxies: { type: "string", default: process.env.PROXIES ?? "1000" },
    modes: { type: "string", default: process.env.MODES ?? "sotw" },
    changes: { type: "string", default: process.env.CHANGES ?? "50" },
    "b5-proxies": { type: "string", default: process.env.B5_PROXIES },
    "b5-concurrency": { type: "string", default: process.env.B5_CONCURRENCY ?? "16" },
    "debounce-ms": { type: "string", default: process.env.DEBOUNCE_MS },
    "cpu-prof": { type: "boolean", default: process.env.CPU_PROF === "1" },
    timeout: { type: "string", default: "600" },
    out: { type: "string", default: join(ROOT, "bench", "results") },
  },
});
const settings: Settings = {
  services: Number(flags.services),
  endpoints: Number(flags.endpoints),
  proxies: Number(flags.proxies),
  modes: flags.modes.split(",") as Mode[],
  changes: Number(flags.changes),
  b5Proxies: Number(flags["b5-proxies"] ?? flags.proxies),
  b5Concurrency: Number(flags["b5-concurrency"]),
  debounceMs: flags["debounce-ms"] === undefined ? undefined : Number(flags["debounce-ms"]),
  cpuProfile: flags["cpu-prof"],
};
const TIMEOUT_S = Number(flags.timeout);
const s = settings;
if (
  [s.services, s.endpoints, s.proxies, s.changes, s.b5Proxies, s.b5Concurrency, TIMEOUT_S].some(
    (n) => !Number.isInteger(n) || n < 0,
  ) ||
  s.services < 1 ||
  s.endpoints < s.services ||
  s.proxies < 1 ||
  s.changes < 1 ||
  s.b5Concurrency < 1 ||
  (s.debounceMs !== undefined && !(Number.isInteger(s.debounceMs) && s.debounceMs >= 0)) ||
  s.modes.some((m) => m !== "sotw" && m !== "delta")
)
  throw new Error("bad flags: see the comment at the top of test/bench/convergence/run.ts");

const log = (message: string) => process.stderr.write(`[bench-convergence] ${message}\n`);
const seconds = (since: number) => (performance.now() - since) / 1000;

/**
 * The commit measured: the one checked out, with what could make dist/
 * differ from it (uncommitted changes in src/, or a src/ file newer than
 * dist/, as when run.ts is started without make).
 */
function revision(): string {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const commit = git("rev-parse", "--short", "HEAD") || "unknown";
  const built = statSync(join(ROOT, "dist/src/cli/main.js")).mtimeMs;
  const newer = readdirSync(join(ROOT, "src"), { recursive: true, encoding: "utf8" }).some(
    (f) => statSync(join(ROOT, "src", f)).mtimeMs > built,
  );
  return [
    commit,
    ...(git("status", "--porcelain", "--", "src") ? ["with uncommitted changes in src/"] : []),
    ...(newer ? ["**dist/ older than src/** (run.ts started without make build)"] : []),
  ].join(", ");
}

/** The 1, 5 and 15 minute load averages: other work on the machine shares its cores with the benchmark. */
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** What one run of compile and translate costs on this state, as in the xDS server's pipeline. */
function pipelineCost(state: ClusterState): { compile: number; translate: number } {
  const compileMs: number[] = [];
  const translateMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    const { model } = compile(state);
    compileMs.push(performance.now() - t);
    t = performance.now();
    translate(model);
    translateMs.push(performance.now() - t);
  }
  return { compile: median(compileMs), translate: median(translateMs) };
}

async function b2(
  mode: Mode,
  load: Load,
  xds: XdsProcess,
  writer: ChangeWriter,
  watch: WriteWatch,
  next: () => number,
) {
  const pid = xds.child.pid;
  const rssStart = memoryKiB(pid, "VmRSS") / 1024;
  const peakReset = resetPeak(pid);
  const cpu0 = cpuSeconds(pid);
  const loadCpu0 = cpuSeconds(load.child.pid);
  const samples: ChangeSample[] = [];
  // Change 0 of each kind is the warm-up: it creates the policy, and it is the first push after connecting.
  for (let i = 0; i <= settings.changes; i++)
    for (const change of [writer.endpoints(next()), writer.policy(next())]) {
      const sample = await measureChange(change, i === 0, load, xds, watch, TIMEOUT_S * 1000);
      samples.push(sample);
      const ms = sample.expected.lastAckUnixMs - sample.writeSentUnixMs;
      log(`  B2 ${mode} ${change.id}${i === 0 ? " (warm-up)" : ""}: write → last ACK ${ms.toFixed(1)} ms`);
    }
  const run = {
    samples,
    b2ServerCpuS: cpuSeconds(pid) - cpu0,
    b2ServerRssMiB: {
      start: rssStart,
      peak: memoryKiB(pid, "VmHWM") / 1024,
      end: memoryKiB(pid, "VmRSS") / 1024,
      peakReset,
    },
    b2LoadCpuS: cpuSeconds(load.child.pid) - loadCpu0,
  };
  await writer.deletePolicy();
  await waitIdle(pid);
  return run;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadAverage();
  const dist = join(ROOT, "dist/src/cli/main.js");
  if (!existsSync(dist)) throw new Error(`${relative(ROOT, dist)} is missing: run make build`);
  // Now, while dist/ is what make just built: others may commit during a long run.
  const measured = revision();
  log("building xdsbench (hack/xdsbench/build.sh)");
  const xdsbench = buildXdsbench();
  log("starting kube-apiserver and etcd");
  const plane = await LocalControlPlane.start();
  let xds: XdsProcess | undefined;
  let watch: WriteWatch | undefined;
  let load: Load | undefined;
  try {
    const kubeConfig = plane.kubeConfig();
    const state = seedState(settings.services, settings.endpoints);
    // The ServiceCIDR and skiff-system, then the fixture's objects.
    const seedObjects = 2 + state.namespaces.length + state.services.length + state.endpointSlices.length;
    log(`creating ${state.services.length} Services and ${state.endpointSlices.length} EndpointSlices`);
    let t = performance.now();
    await seedCluster(kubeConfig, state, 16);
    const seedS = seconds(t);
    const pipelineCostMs = pipelineCost(state);
    log(`starting skiff xds (compile + translate of this state: ${JSON.stringify(pipelineCostMs)} ms)`);
    if (settings.cpuProfile) {
      rmSync(PROFILE_DIR, { recursive: true, force: true });
      mkdirSync(PROFILE_DIR, { recursive: true });
    }
    xds = await startXds(
      plane.kubeconfigPath,
      settings.debounceMs,
      settings.cpuProfile ? PROFILE_DIR : undefined,
    );
    watch = new WriteWatch(kubeConfig);
    await watch.start();
    const services = state.services.map((svc) => svc.metadata!.name!);
    const writer = new ChangeWriter(kubeConfig, state.endpointSlices, services[services.length >> 1]!);
    let sequence = 0;
    const runs: ModeRun[] = [];
    const [etcdPid, apiServerPid] = plane.processIds;
    for (const mode of settings.modes) {
      log(`B2 ${mode}: connecting ${settings.proxies} proxies`);
      t = performance.now();
      load = await Load.start(xdsbench, xds.adsAddress, settings.proxies, mode, TIMEOUT_S);
      log(`  complete in ${seconds(t).toFixed(1)} s`);
      await waitIdle(xds.child.pid);
      const run: ModeRun = {
        mode,
        connect: load.started,
        ...(await b2(mode, load, xds, writer, watch, () => sequence++)),
      };
      if (settings.b5Proxies > 0) {
        if (settings.b5Proxies !== settings.proxies) {
          await load.stop();
          log(`B5 ${mode}: connecting ${settings.b5Proxies} proxies`);
          load = await Load.start(xdsbench, xds.adsAddress, settings.b5Proxies, mode, TIMEOUT_S);
          await waitIdle(xds.child.pid);
        }
        log(`B5 ${mode}: creating ${services.length} TrafficPolicies`);
        const cpu = () => [cpuSeconds(apiServerPid!), cpuSeconds(etcdPid!)] as const;
        const [api0, etcd0] = cpu();
        const b5 = await measurePolicyCreation(
          kubeConfig,
          services,
          settings.b5Proxies,
          xds,
          settings.b5Concurrency,
          TIMEOUT_S * 1000,
        );
        const [api1, etcd1] = cpu();
        run.b5 = { ...b5, apiServerCpuS: api1 - api0, etcdCpuS: etcd1 - etcd0 };
        log(`  ${JSON.stringify(run.b5)}`);
        await deletePolicies(kubeConfig, xds);
      }
      await load.stop();
      load = undefined;
      runs.push(run);
    }
    const date = new Date().toISOString().slice(0, 10);
    const loadAround = { start: loadAtStart, end: loadAverage() };
    const markdown = convergenceReport({
      settings,
      date,
      wallS: seconds(started),
      seedS,
      seedObjects,
      pipelineCostMs,
      clockDriftMs: clockDriftMs(),
      revision: measured,
      loadAverage: loadAround,
      runs,
    });
    const file = await writeReport(markdown, flags.out, "convergence", date);
    log(`wrote ${relative(ROOT, file)}`);
    const json = writeResultFile(flags.out, "convergence", {
      commit: measured,
      date,
      loadavg: loadAround,
      results: convergenceResults(runs),
    });
    log(`wrote ${relative(ROOT, json)}`);
  } finally {
    await load?.stop();
    watch?.stop();
    await xds?.child.stop();
    await plane.stop();
  }
  if (settings.cpuProfile) printProfile();
}

/** skiff xds wrote its profile when it exited. */
function printProfile(): void {
  const file = readdirSync(PROFILE_DIR).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`skiff xds left no .cpuprofile in ${relative(ROOT, PROFILE_DIR)}`);
  console.log(
    `\nskiff xds, the whole run: top 20 functions by self time (${relative(ROOT, join(PROFILE_DIR, file))})`,
  );
  for (const line of topSelfTime(join(PROFILE_DIR, file), 20)) console.log(`  ${line}`);
}

await main();
