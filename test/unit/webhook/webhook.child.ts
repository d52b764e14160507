/**
 * The operator's admission webhooks as the operator starts them
 * (startWebhook: /inject and /validate, their TLS Secret, informers and
 * configuration patches), in a process of their own, against the API
 * server at SKIFF_TEST_API_SERVER. A test sees a request that would end the
 * operator as a dead process, and measures what the webhooks keep.
 *
 * Run with `node --expose-gc --import tsx` and an IPC channel. It prints
 * one JSON line, its port and CA; replies to the message "memory" with
 * `{ bytes }`, heap and external after collecting garbage; and sends
 * `{ fatal }` on an uncaught exception or unhandled rejection, then exits.
 */
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { startWebhook } from "../../../src/webhook/webhook.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
if (!process.send) throw new Error("run as a child process with an IPC channel");

for (const event of ["uncaughtException", "unhandledRejection"] as const)
  process.on(event, (err: unknown) => {
    const fatal = `${event}: ${err instanceof Error ? err.stack : String(err)}`;
    process.stderr.write(`${fatal}\n`);
    process.send!({ fatal }, () => process.exit(70));
  });

const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: "fake", server: process.env.SKIFF_TEST_API_SERVER!, skipTLSVerify: true }],
  users: [{ name: "fake" }],
  contexts: [{ name: "fake", cluster: "fake", user: "fake" }],
  currentContext: "fake",
});
const webhook = await startWebhook(kubeConfig, {
  logger: pino({ level: process.env.SKIFF_TEST_LOG_LEVEL ?? "silent" }, pino.destination(2)),
  address: "127.0.0.1:0",
  namespace: "skiff-system",
  secretName: "skiff-webhook-tls",
  hosts: ["127.0.0.1"],
  image: "ghcr.io/skiff-dev/skiff:test",
  // No resync while memory is measured: the first one runs at start.
  resyncMs: 3_600_000,
});

/** Several rounds: what a finalizer or a WeakRef holds goes only in a later one. */
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
process.on("disconnect", () => void webhook.stop().then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ port: webhook.port, ca: webhook.caBundle() }) + "\n");
