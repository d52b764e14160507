/**
 * An ADS server in a process of its own, so a test can measure what the
 * server's heap holds while clients (in the test's process) push at it,
 * without the clients' own allocations in the figure. Run with
 * `node --expose-gc --import tsx`; it prints its port on stdout, then
 * replies to the IPC message "memory" with the bytes the process holds
 * (heap and external, such as Buffers) after collecting garbage.
 *
 * The reply also counts the proxies on open streams. The message "lag" is
 * answered with `{ lagMs }`, the event loop's longest stall since the last.
 *
 * STREAM_LIMITS (JSON, optional) overrides the server's per-stream limits.
 * ADS_PROBE_MESH=1 serves the proxyless-mtls translate case through the
 * pipeline's MeshSnapshots (per-proxy views from the node, SDS for one
 * verified identity) instead of the fake source's two resources.
 * ADS_PROBE_AUTH=1 checks credentials as a stand-in for the TokenReview:
 * `Bearer good` proves bookinfo/bookinfo-ratings, `Bearer slow` proves it
 * 20 ms later, `Bearer down` cannot be checked, any other token is refused,
 * none gives no identity.
 *
 * An uncaught exception or unhandled rejection is sent to the parent as
 * `{ fatal }` before the process exits, so a test can say what ended it.
 */
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Metadata } from "@grpc/grpc-js";
import { pino } from "pino";
import { compile } from "../../src/compile/compile.js";
import { MeshSnapshots } from "../../src/xds/cache/mesh-snapshots.js";
import type { SnapshotSource, WorkloadIdentity } from "../../src/xds/cache/snapshot.js";
import { AdsServer, type AdsServerOptions } from "../../src/xds/server/ads-server.js";
import { refused, uncheckable } from "../../src/xds/server/authentication-error.js";
import { identitySecrets } from "../../src/xds/translate/identity-secrets.js";
import { translate } from "../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "./cluster-state.js";
import { FakeSnapshotSource, fixtures as f } from "./fake-snapshot-source.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
if (!process.send) throw new Error("run as a child process with an IPC channel");

for (const event of ["uncaughtException", "unhandledRejection"] as const)
  process.on(event, (err: unknown) => {
    const fatal = `${event}: ${err instanceof Error ? err.stack : String(err)}`;
    process.stderr.write(`${fatal}\n`);
    process.send!({ fatal }, () => process.exit(70));
  });

const PROVEN: WorkloadIdentity = { namespace: "bookinfo", serviceAccount: "bookinfo-ratings" };

function meshSource(): SnapshotSource {
  const data = join(import.meta.dirname, "..", "testdata", "translate");
  const state = clusterStateFromFiles(join(data, "base.yaml"), join(data, "in", "proxyless-mtls.yaml"));
  const snapshots = new MeshSnapshots();
  snapshots.publish(translate(compile(state).model));
  snapshots.publishSecrets(
    PROVEN,
    identitySecrets({
      trustBundlePem: "roots",
      spiffeId: "spiffe://cluster.local/ns/a/sa/b",
      signerPem: "signer",
    }),
  );
  return snapshots;
}

function fakeSource(): SnapshotSource {
  const source = new FakeSnapshotSource();
  source.set(f.cluster(source, "c1"), f.endpoints(source, "c1"));
  return source;
}

async function authenticate(_node: unknown, metadata: Metadata): Promise<WorkloadIdentity | undefined> {
  const [authorization] = metadata.get("authorization");
  if (authorization === undefined) return undefined;
  if (authorization === "Bearer good") return PROVEN;
  if (authorization === "Bearer slow") {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return PROVEN;
  }
  if (authorization === "Bearer down") throw uncheckable("the API server is down");
  throw refused("not a token the API server knows");
}

const source = process.env.ADS_PROBE_MESH === "1" ? meshSource() : fakeSource();
const limits = process.env.STREAM_LIMITS;
const options: AdsServerOptions = {
  logger: pino({ level: "silent" }),
  shutdownGraceMs: 100,
  ...(limits ? { limits: JSON.parse(limits) } : {}),
  ...(process.env.ADS_PROBE_AUTH === "1" ? { authenticate } : {}),
};
const server = new AdsServer(source, options);
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

/** The event loop's longest stall since the last "lag" message. */
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();

process.on("message", (message: string) => {
  if (message === "memory")
    void settledMemory().then((bytes) => process.send!({ bytes, proxies: server.proxies().length }));
  if (message === "lag") {
    process.send!({ lagMs: lag.max / 1e6 });
    lag.reset();
  }
});
process.on("disconnect", () => void server.stop().then(() => process.exit(0)));
process.stdout.write(`${port}\n`);
