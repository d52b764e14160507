/**
 * A proxyless gRPC client (@grpc/grpc-js + @grpc/grpc-js-xds) that sends Echo
 * calls and reports where they went, as ONE JSON line on stdout.
 *
 *   node --import tsx test/support/grpc/xds-client.ts --spec '<ClientSpec as JSON>' [--ignore-stdin]
 *
 * - A target `xds:///<listener name>` resolves through the xDS server
 *   `spec.xdsServer`, with a bootstrap built in-process and handed to the
 *   channel through the channel option
 *   `grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config` (grpc-js-xds then
 *   gives this channel its own XdsClient; no GRPC_XDS_BOOTSTRAP* variable is
 *   read). Any other target (`127.0.0.1:1234`) is dialled directly.
 * - Before it counts anything it warms up: it repeats one waitForReady call,
 *   marked with the `x-skiff-warmup` header (backends neither fail nor count
 *   it), until one succeeds (or is aborted by xDS fault injection, or denied
 *   by an xDS-enabled server's RBAC filter, or hits a
 *   deadline shorter than its own, i.e. a route max_stream_duration: both
 *   prove the route config is in force) or `waitForReadyMs` passes. It then
 *   writes `READY <ms>` (or `NOT-READY <ms>`) on stderr.
 * - mode "calls" (default) makes `calls` calls, `concurrency` at a time, and
 *   prints a CallsResult; exit 0.
 * - mode "until" makes one call at a time until the backends that answered the
 *   last `window` (20) calls are exactly `expectBackends` (a failed call counts
 *   as the backend "!<STATUS>"), and prints an UntilResult; exit 0. When
 *   `timeoutMs` passes first it prints `{"timedOut": true, ...}` and exits 3.
 * - It exits 2 when its stdin reaches EOF (a dead parent), unless --ignore-stdin.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { credentials, status, type ChannelOptions } from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { BACKEND_TRAILER, EchoClient, WARMUP_HEADER, callEcho, type CallOutcome } from "./echo.js";

export interface ClientSpec {
  /** `xds:///reviews.bookinfo.svc.cluster.local:9080`, or `host:port` to dial directly. */
  readonly target: string;
  /** `127.0.0.1:PORT` of the ADS server; required for xds:/// targets. */
  readonly xdsServer?: string;
  /** The node id; `grpc~client-<pid>` by default. */
  readonly nodeId?: string;
  /** Extra node metadata, merged over `{"GENERATOR": "grpc"}`. */
  readonly nodeMetadata?: Record<string, unknown>;
  /** The bootstrap's xds_servers[0].server_features; `[]` by default. */
  readonly serverFeatures?: readonly string[];
  /** A whole bootstrap (e.g. the one `skiff agent` writes), used instead of the fields above. */
  readonly bootstrap?: object;
  /** Channel credentials: "xds" uses what the cluster says (mTLS on certificate providers), plaintext otherwise. */
  readonly credentials?: "insecure" | "xds";
  readonly mode?: "calls" | "until";
  /** Request metadata for every call. */
  readonly metadata?: Record<string, string>;
  /** Per-call deadline; 5000 by default. */
  readonly deadlineMs?: number;
  /** How long the warm-up may take; 20000 by default. */
  readonly waitForReadyMs?: number;
  /** mode "calls": how many calls (100) and how many at once (10). */
  readonly calls?: number;
  readonly concurrency?: number;
  /** mode "until": the backend names to converge to, within timeoutMs (20000). */
  readonly expectBackends?: readonly string[];
  readonly timeoutMs?: number;
  /**
   * mode "until": how many of the latest calls to look at (20), and the pause
   * between calls (5 ms); mode "calls": a pause after each call, if set.
   */
  readonly window?: number;
  readonly intervalMs?: number;
}

export interface CallsResult {
  readonly mode: "calls";
  readonly ready: boolean;
  readonly readyMs: number;
  /** Successful calls per answering backend. */
  readonly byBackend: Record<string, number>;
  /** Calls per final status name: OK, UNAVAILABLE, DEADLINE_EXCEEDED, ... */
  readonly byStatus: Record<string, number>;
  /** Successful calls per how they reached the backend: "tls <client SPIFFE ID>", "tls", or "plaintext". */
  readonly byTransport: Record<string, number>;
  /** Failed calls per backend, for failures that a backend returned (x-skiff-backend trailer). */
  readonly failuresByBackend: Record<string, number>;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly max: number;
  };
  /** Up to 10 distinct "STATUS: details" of failed calls. */
  readonly errors: readonly string[];
}

export interface UntilResult {
  readonly mode: "until";
  readonly ready: boolean;
  readonly readyMs: number;
  /** From READY to the call that completed the converged window. */
  readonly convergedMs: number;
  /** Date.now() at that moment, to compare with a test's own clock. */
  readonly convergedAtEpochMs: number;
  readonly calls: number;
  readonly lastWindow: Record<string, number>;
}

export interface UntilTimeout {
  readonly mode: "until";
  readonly timedOut: true;
  readonly ready: boolean;
  readonly calls: number;
  readonly lastWindow: Record<string, number>;
}

export type ClientResult = CallsResult | UntilResult;

const BOOTSTRAP_OPTION = "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config";

/** The grpc-js-xds bootstrap (see xds-bootstrap.js validateBootstrapConfig). */
export function bootstrapFor(spec: ClientSpec): object {
  if (spec.bootstrap) return spec.bootstrap;
  if (!spec.xdsServer) throw new Error(`spec.xdsServer is required for target ${spec.target}`);
  return {
    xds_servers: [
      {
        server_uri: spec.xdsServer,
        channel_creds: [{ type: "insecure" }],
        server_features: spec.serverFeatures ?? [],
      },
    ],
    node: {
      id: spec.nodeId ?? `grpc~client-${process.pid}`,
      // grpc-js-xds rejects a node without a locality (validateNode).
      locality: {},
      metadata: { ...spec.nodeMetadata, GENERATOR: "grpc" },
    },
  };
}

function statusName(code: number): string {
  return (status as unknown as Record<number, string | undefined>)[code] ?? `CODE_${code}`;
}

function backendOf(outcome: CallOutcome): string | undefined {
  if (outcome.response) return outcome.response.backend;
  const trailer = outcome.error?.metadata?.get(BACKEND_TRAILER)[0];
  return typeof trailer === "string" ? trailer : undefined;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const value = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  return Math.round(value * 10) / 10;
}

function increment(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function makeClient(spec: ClientSpec): EchoClient {
  const options: ChannelOptions = {};
  if (spec.target.startsWith("xds:")) {
    grpcXds.register();
    options[BOOTSTRAP_OPTION] = JSON.stringify(bootstrapFor(spec));
  }
  const insecure = credentials.createInsecure();
  return new EchoClient(
    spec.target,
    spec.credentials === "xds" ? new grpcXds.XdsChannelCredentials(insecure) : insecure,
    options,
  );
}

/** Warm-up calls until one gets through; resolves whether it did. */
async function warmUp(client: EchoClient, spec: ClientSpec): Promise<boolean> {
  const deadline = Date.now() + (spec.waitForReadyMs ?? 20_000);
  const metadata = { ...spec.metadata, [WARMUP_HEADER]: "1" };
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return false;
    const outcome = await callEcho(
      client,
      { message: "warm-up" },
      { metadata, deadlineMs: remaining, waitForReady: true },
    );
    if (outcome.response) return true;
    // grpc-js-xds' fault filter fails calls with exactly this text.
    if (outcome.error?.details === "Fault injected") return true;
    // The server's RBAC filter answered: the client reached it through its xDS config.
    if (outcome.error?.code === status.PERMISSION_DENIED) return true;
    // A deadline well before ours was imposed by the route (max_stream_duration): config is in force.
    if (outcome.error?.code === status.DEADLINE_EXCEEDED && outcome.latencyMs < remaining - 250) return true;
    await sleep(100);
  }
}

async function runCalls(client: EchoClient, spec: ClientSpec, ready: boolean, readyMs: number) {
  const total = spec.calls ?? 100;
  const concurrency = Math.max(1, Math.min(spec.concurrency ?? 10, total));
  const byBackend: Record<string, number> = {};
  const byStatus: Record<string, number> = {};
  const byTransport: Record<string, number> = {};
  const failuresByBackend: Record<string, number> = {};
  const errors = new Set<string>();
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const outcome = await callEcho(
        client,
        { message: "hello" },
        { metadata: spec.metadata, deadlineMs: spec.deadlineMs ?? 5000 },
      );
      latencies.push(outcome.latencyMs);
      const backend = backendOf(outcome);
      if (outcome.response) {
        increment(byStatus, "OK");
        increment(byBackend, outcome.response.backend);
        const { transport, peer } = outcome.response;
        increment(byTransport, peer ? `${transport} ${peer}` : transport);
      } else {
        const name = statusName(outcome.error?.code ?? status.UNKNOWN);
        increment(byStatus, name);
        if (backend) increment(failuresByBackend, backend);
        if (errors.size < 10) errors.add(`${name}: ${outcome.error?.details ?? ""}`);
      }
      if (spec.intervalMs) await sleep(spec.intervalMs);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const result: CallsResult = {
    mode: "calls",
    ready,
    readyMs,
    byBackend,
    byStatus,
    byTransport,
    failuresByBackend,
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      max: percentile(latencies, 1),
    },
    errors: [...errors],
  };
  return result;
}

async function runUntil(
  client: EchoClient,
  spec: ClientSpec,
  ready: boolean,
  readyMs: number,
  readyAt: number,
): Promise<UntilResult | UntilTimeout> {
  const expected = [...new Set(spec.expectBackends ?? [])].sort();
  if (expected.length === 0) throw new Error('mode "until" needs a non-empty expectBackends');
  const windowSize = spec.window ?? 20;
  const deadline = readyAt + (spec.timeoutMs ?? 20_000);
  const window: string[] = [];
  let calls = 0;
  const counts = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const b of window) increment(out, b);
    return out;
  };
  while (Date.now() < deadline) {
    const outcome = await callEcho(
      client,
      { message: "watch" },
      { metadata: spec.metadata, deadlineMs: spec.deadlineMs ?? 5000 },
    );
    calls++;
    window.push(
      outcome.response ? outcome.response.backend : `!${statusName(outcome.error?.code ?? status.UNKNOWN)}`,
    );
    if (window.length > windowSize) window.shift();
    if (window.length === windowSize) {
      const seen = [...new Set(window)].sort();
      if (seen.length === expected.length && seen.every((b, i) => b === expected[i])) {
        const now = Date.now();
        return {
          mode: "until",
          ready,
          readyMs,
          convergedMs: now - readyAt,
          convergedAtEpochMs: now,
          calls,
          lastWindow: counts(),
        };
      }
    }
    const interval = spec.intervalMs ?? 5;
    if (interval > 0) await sleep(interval);
  }
  return { mode: "until", timedOut: true, ready, calls, lastWindow: counts() };
}

function finish(result: object, code: number): void {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { spec: { type: "string" }, "ignore-stdin": { type: "boolean", default: false } },
    strict: true,
  });
  if (!values.spec) throw new Error("--spec '<json>' is required");
  const spec = JSON.parse(values.spec) as ClientSpec;
  if (typeof spec.target !== "string") throw new Error("spec.target is required");
  if (!values["ignore-stdin"]) {
    process.stdin.on("end", () => process.exit(2));
    process.stdin.resume();
  }

  const client = makeClient(spec);
  const started = Date.now();
  const ready = await warmUp(client, spec);
  const readyAt = Date.now();
  const readyMs = readyAt - started;
  process.stderr.write(`${ready ? "READY" : "NOT-READY"} ${readyMs}\n`);

  if ((spec.mode ?? "calls") === "until") {
    const result = await runUntil(client, spec, ready, readyMs, readyAt);
    finish(result, "timedOut" in result ? 3 : 0);
  } else {
    finish(await runCalls(client, spec, ready, readyMs), 0);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`xds-client: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
