/**
 * The Envoy benchmark (issue 18, build item 4): real Envoys instead of
 * simulated proxies.
 *
 * - B8 (b8.ts): ENVOYS real Envoy sidecars on loopback, connected to the real
 *   `skiff xds` (the built dist/) on a real kube-apiserver holding SERVICES
 *   Services and ENDPOINTS endpoints (the convergence benchmark's cluster);
 *   CHANGES changes of each kind, alternating, one at a time: API write sent →
 *   every Envoy's config_dump holds it. And each Envoy's RSS.
 * - B10 (b10.ts): the latency a pair of sidecars adds, fortio through real
 *   injected sidecars on the local node against the same fortio pair direct.
 *
 * Writes bench/results/envoy-<date>.md and .json and prints the report.
 * Flags (or environment):
 *   --envoys (ENVOYS, 100)  --services (SERVICES, 100)  --endpoints (ENDPOINTS, 1000)
 *   --changes (CHANGES, 20): changes of each kind; --poll-ms (POLL_MS, 10)
 *   --b10 (B10, 1; 0 skips it)  --qps (QPS, 1000)  --connections (CONNECTIONS, 16)
 *   --duration (DURATION, 30s): fortio's -t; --payload (PAYLOAD, 1024 bytes)
 *   --rounds (ROUNDS, 3): fortio runs of each path, alternating
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LocalControlPlane } from "../../../src/controlplane/controlplane.js";
import { envoyBinary } from "../../../src/localnode/tools.js";
import { ChangeWriter } from "../convergence/changes.js";
import { seedCluster, seedState } from "../convergence/cluster.js";
import { startXds, waitIdle, type XdsProcess } from "../convergence/xds-process.js";
import { closeAdminConnections } from "./admin.js";
import { measureChange, measurePollingCost, type B8Sample, type PollingCost } from "./b8.js";
import { measureSidecarLatency, type B10Result } from "./b10.js";
import { EnvoyFleet } from "./envoys.js";
import { envoyReport, writeEnvoyResults, type Settings } from "./report.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

const { values: flags } = parseArgs({
  options: {
    envoys: { type: "string", default: process.env.ENVOYS ?? "100" },
    services: { type: "string", default: process.env.SERVICES ?? "100" },
    endpoints: { type: "string", default: process.env.ENDPOINTS ?? "1000" },
    changes: { type: "string", default: process.env.CHANGES ?? "20" },
    "poll-ms": { type: "string", default: process.env.POLL_MS ?? "10" },
    b10: { type: "string", default: process.env.B10 ?? "1" },
    qps: { type: "string", default: process.env.QPS ?? "1000" },
    connections: { type: "string", default: process.env.CONNECTIONS ?? "16" },
    duration: { type: "string", default: process.env.DURATION ?? "30s" },
    payload: { type: "string", default: process.env.PAYLOAD ?? "1024" },
    rounds: { type: "string", default: process.env.ROUNDS ?? "3" },
    timeout: { type: "string", default: "120" },
    out: { type: "string", default: join(ROOT, "bench", "results") },
  },
});
const settings: Settings = {
  envoys: Number(flags.envoys),
  services: Number(flags.services),
  endpoints: Number(flags.endpoints),
  changes: Number(flags.changes),
  pollMs: Number(flags["poll-ms"]),
  b10: flags.b10 !== "0",
  qps: Number(flags.qps),
  connections: Number(flags.connections),
  duration: flags.duration,
  payloadBytes: Number(flags.payload),
  rounds: Number(flags.rounds),
};
const TIMEOUT_S = Number(flags.timeout);
const s = settings;
if (
  [
    s.envoys,
    s.services,
    s.endpoints,
    s.changes,
    s.pollMs,
    s.qps,
    s.connections,
    s.payloadBytes,
    s.rounds,
    TIMEOUT_S,
  ].some((n) => !Number.isInteger(n) || n < 0) ||
  s.services < 1 ||
  s.endpoints < s.services ||
  s.changes < 1 ||
  s.rounds < 1 ||
  !/^\d+s$/.test(s.duration)
)
  throw new Error("bad flags: see the comment at the top of test/bench/envoy/run.ts");

const log = (message: string) => process.stderr.write(`[bench-envoy] ${message}\n`);
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

/** B8 on its own control plane, `skiff xds` and Envoys; all of them stopped before it returns. */
async function b8(): Promise<{
  samples: B8Sample[];
  rssMiB: number[];
  connectS: number;
  pollingCost: PollingCost;
}> {
  const binary = await envoyBinary();
  log("starting kube-apiserver and etcd");
  const plane = await LocalControlPlane.start();
  let xds: XdsProcess | undefined;
  let fleet: EnvoyFleet | undefined;
  try {
    const kubeConfig = plane.kubeConfig();
    const state = seedState(settings.services, settings.endpoints);
    log(`creating ${state.services.length} Services and ${state.endpointSlices.length} EndpointSlices`);
    await seedCluster(kubeConfig, state, 16);
    xds = await startXds(plane.kubeconfigPath, undefined);
    log(`starting ${settings.envoys} Envoys against ${xds.adsAddress}`);
    const t = performance.now();
    fleet = await EnvoyFleet.start(binary, xds.adsAddress, settings.envoys);
    await fleet.ready(TIMEOUT_S * 1000);
    const connectS = (performance.now() - t) / 1000;
    log(`  all LIVE in ${connectS.toFixed(1)} s`);
    await waitIdle(xds.child.pid);
    const services = state.services.map((svc) => svc.metadata!.name!);
    const writer = new ChangeWriter(kubeConfig, state.endpointSlices, services[services.length >> 1]!);
    const pollingCost = await measurePollingCost(fleet.envoys, writer.policyService, settings.pollMs, 3000);
    log(`  polling alone: ${JSON.stringify(pollingCost)}`);
    await waitIdle(xds.child.pid);
    const samples: B8Sample[] = [];
    let sequence = 0;
    // Change 0 of each kind is the warm-up: it creates the policy, and it is the first push after connecting.
    for (let i = 0; i <= settings.changes; i++)
      for (const change of [writer.endpoints(sequence++), writer.policy(sequence++)]) {
        const sample = await measureChange(
          change,
          i === 0,
          fleet.envoys,
          settings.pollMs,
          TIMEOUT_S * 1000,
          xds.child.pid,
        );
        samples.push(sample);
        const seen = sample.seenMs.filter((ms) => ms !== null);
        log(
          `  B8 ${change.id}${i === 0 ? " (warm-up)" : ""}: write → every Envoy ${
            seen.length === sample.seenMs.length
              ? `${Math.max(...seen).toFixed(1)} ms`
              : `${seen.length} of ${sample.seenMs.length} Envoys`
          }`,
        );
        // The tail of one change (status writes, the recompile they trigger) must not overlap the next.
        await waitIdle(xds.child.pid);
      }
    const rssMiB = fleet.rssMiB();
    await writer.deletePolicy();
    return { samples, rssMiB, connectS, pollingCost };
  } finally {
    closeAdminConnections();
    await fleet?.stop();
    await xds?.child.stop();
    await plane.stop();
  }
}

/** The commit measured, and whether src/ had uncommitted changes (dist/ is built from the working tree). */
function revision(): { commit: string; dirty: boolean } {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  return {
    commit: git("rev-parse", "--short", "HEAD") || "unknown",
    dirty: git("status", "--porcelain", "--", "src") !== "",
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = loadAverage();
  const dist = join(ROOT, "dist/src/cli/main.js");
  if (!existsSync(dist)) throw new Error(`${relative(ROOT, dist)} is missing: run make build`);
  const measured = revision();
  const b8Run = await b8();
  let b10: B10Result | undefined;
  if (settings.b10) {
    log("B10: fortio through a pair of sidecars on the local node, and direct");
    b10 = await measureSidecarLatency(settings, log);
  }
  const date = new Date().toISOString().slice(0, 10);
  const facts = {
    settings,
    date,
    wallS: (performance.now() - started) / 1000,
    revision: measured,
    loadAverage: { start: loadAtStart, end: loadAverage() },
    b8: b8Run,
    b10,
  };
  const file = await writeEnvoyResults(envoyReport(facts), facts, flags.out);
  log(`wrote ${relative(ROOT, file)} and its .json`);
}

await main();
