/**
 * An ADS server in a process of its own, so a test can measure what the
 * server's heap holds while clients (in the test's process) push at it,
 * without the clients' own allocations in the figure. Run with
 * `node --expose-gc --import tsx`; it prints its port on stdout, then
 * replies to the IPC message "memory" with the bytes the process holds
 * (heap and external, such as Buffers) after collecting garbage.
 *
 * STREAM_LIMITS (JSON, optional) overrides the server's per-stream limits.
 */
import { pino } from "pino";
import { AdsServer, type AdsServerOptions } from "../../src/xds/server/ads-server.js";
import { FakeSnapshotSource, fixtures as f } from "./fake-snapshot-source.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
if (!process.send) throw new Error("run as a child process with an IPC channel");

const source = new FakeSnapshotSource();
source.set(f.cluster(source, "c1"), f.endpoints(source, "c1"));
const options: AdsServerOptions = { logger: pino({ level: "silent" }), shutdownGraceMs: 100 };
const limits = process.env.STREAM_LIMITS;
const server = new AdsServer(source, limits ? { ...options, limits: JSON.parse(limits) } : options);
const port = await server.start("127.0.0.1:0");

/** Several rounds: a WeakRef's target, or what a finalizer holds, goes only in a later one. */
async function settledMemory(): Promise<number> {
  for (let round = 0; round < 4; round++) {
    gc!();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

process.on("message", (message: string) => {
  if (message === "memory") void settledMemory().then((bytes) => process.send!({ bytes }));
});
process.on("disconnect", () => void server.stop().then(() => process.exit(0)));
process.stdout.write(`${port}\n`);
