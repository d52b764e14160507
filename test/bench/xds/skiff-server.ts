/**
 * Skiff's real ADS server on the benchmark workload, as its own process so
 * that its CPU time and memory can be measured apart from the load.
 *
 *   node skiff-server.js --services S --endpoints E [--address 127.0.0.1:0]
 *
 * Builds the fixture (compile and translate), publishes it to a
 * MeshSnapshots (which encodes every resource once), then serves it with
 * AdsServer and prints `READY <host:port>`. Commands, one per line on stdin:
 *   stats  prints {"encodes":..,"encodesByType":{..},"distinctResources":..,"pushes":..,"connected":..,
 *          "eventLoopDelayMaxMs":..,"eventLoopDelayP99Ms":..,
 *          "heapUsedKiB":..,"externalKiB":..}, the last two how long the event loop was held up
 *          since the previous stats (longest and p99, ms, at 1 ms resolution)
 *   gc     runs a full garbage collection (needs --expose-gc) and prints "GC"
 *   publish FILE  replaces the resources in FILE (the peer's resource-file format, as
 *          `xdsbench peer`'s apply takes it) in the served translation and publishes it
 *          through MeshSnapshots.publish, as the pipeline does after translate;
 *          prints "PUBLISHED <generation>" (the churn benchmark, B3). Publish commands
 *          waiting together go out as one generation, as the pipeline's debounce folds
 *          changes.
 * It exits when stdin closes, and on SIGTERM or SIGINT.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { xdsConnectedProxies, xdsPushes, xdsResourceEncodes } from "../../../src/observability/metrics.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import { AdsServer } from "../../../src/xds/server/ads-server.js";
import type { MeshResources } from "../../../src/xds/translate/translate.js";
import { buildFixture, fromPeerFile } from "./fixture.js";
import { withReplaced } from "./replace-resources.js";

const { values } = parseArgs({
  options: {
    services: { type: "string", default: "1000" },
    endpoints: { type: "string", default: "10000" },
    address: { type: "string", default: "127.0.0.1:0" },
  },
});
// Per-stream info logs would cost the server as much as the work measured; warnings still show.
process.env.SKIFF_LOG_LEVEL ??= "warn";

const snapshots = new MeshSnapshots();
/** The translation being served; `publish` replaces resources in it. */
let served: MeshResources;
const distinctResources = (() => {
  // Only the translation stays reachable: the cluster state and model go, as the fixture does.
  const fixture = buildFixture({ services: Number(values.services), endpoints: Number(values.endpoints) });
  served = fixture.resources;
  snapshots.publish(served);
  return fixture.distinctResources;
})();
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();

const server = new AdsServer(snapshots);
const host = values.address!.slice(0, values.address!.lastIndexOf(":"));
const port = await server.start(values.address!);

const sum = async (metric: { get(): Promise<{ values: { value: number; labels: object }[] }> }) => {
  const { values: samples } = await metric.get();
  return samples.reduce((n, s) => n + s.value, 0);
};

// While the loop is held up, nothing else runs: a keepalive ping's answer waits, and its timeout can fire first.
// 1 ms resolution: B12's bound is 50 ms, and a 10 ms sampler would add up to 10 ms to every reading.
const eventLoopDelay = monitorEventLoopDelay({ resolution: 1 });
eventLoopDelay.enable();

async function stats(): Promise<string> {
  const encodes = await xdsResourceEncodes.get();
  const eventLoopDelayMaxMs = Math.round(eventLoopDelay.max / 1e5) / 10;
  const eventLoopDelayP99Ms = Math.round(eventLoopDelay.percentile(99) / 1e5) / 10;
  eventLoopDelay.reset();
  const memory = process.memoryUsage();
  return JSON.stringify({
    encodes: encodes.values.reduce((n, s) => n + s.value, 0),
    encodesByType: Object.fromEntries(encodes.values.map((s) => [String(s.labels.type), s.value])),
    distinctResources,
    pushes: await sum(xdsPushes),
    connected: await sum(xdsConnectedProxies),
    eventLoopDelayMaxMs,
    eventLoopDelayP99Ms,
    // B6's breakdown: how much of the RSS is V8's heap, and how much Buffers and other memory outside it.
    heapUsedKiB: Math.round(memory.heapUsed / 1024),
    externalKiB: Math.round(memory.external / 1024),
  });
}

/** Reads change files and publishes the translation with their resources replaced (a later file's win). */
function publish(files: readonly string[]): number {
  const changed = files.flatMap((file) => {
    const change = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown[]> & {
      remove?: Record<string, string[]>;
    };
    if (Object.values(change.remove ?? {}).some((names) => names.length > 0))
      throw new Error(`${file}: publish does not remove resources`);
    return fromPeerFile(change);
  });
  served = withReplaced(served, changed);
  return snapshots.publish(served);
}

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.exit(0);
}
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
function run(command: string): void {
  if (command === "stats") void stats().then((s) => console.log(s));
  else if (command === "gc") {
    gc?.();
    console.log(gc ? "GC" : "ERROR run node with --expose-gc");
  } else if (command !== "") console.log(`ERROR unknown command ${JSON.stringify(command)}`);
}

const PUBLISH = "publish ";
const commands: string[] = [];

/**
 * Every publish command waiting goes out as one generation, with one
 * PUBLISHED line per command, as the pipeline folds the changes that come in
 * before its debounce fires into one run (docs/ARCHITECTURE.md, Pipeline).
 */
function publishWaiting(): void {
  const files: string[] = [];
  while (commands[0]?.startsWith(PUBLISH)) files.push(commands.shift()!.slice(PUBLISH.length).trim());
  let answer: string;
  try {
    answer = `PUBLISHED ${publish(files)}`;
  } catch (err) {
    answer = `ERROR ${String(err).replaceAll("\n", " ")}`;
  }
  for (let i = 0; i < files.length; i++) console.log(answer);
}

// One command (or run of publishes) per turn of the event loop: readline hands over at once every line that
// arrived while the loop was busy, and taking those one by one in the same turn would keep the server from
// its sockets for as long as they take.
function runNext(): void {
  if (commands[0]!.startsWith(PUBLISH)) publishWaiting();
  else run(commands.shift()!);
  if (commands.length > 0) setImmediate(runNext);
}
createInterface({ input: process.stdin })
  .on("line", (line) => {
    if (commands.push(line.trim()) === 1) setImmediate(runNext);
  })
  .on("close", () => void stop());

console.log(`READY ${host}:${port}`);
