/**
 * A long-lived proxyless gRPC caller for tests that send many calls over a
 * few channels: one process (so that grpc-js-xds's clients, which keep
 * their ADS streams and retry timers alive, never hold the test process
 * open), driven over stdin and stdout.
 *
 *   node --import tsx test/support/grpc/caller.ts --channels '{"<name>": {"target": "xds:///...", "bootstrap": {...}}}'
 *
 * Channels use xDS credentials (mTLS where their cluster says so). Each stdin
 * line is a call, `{"id": 1, "channel": "<name>", "path": "/pkg.Service/Method",
 * "metadata": {...}}`; each stdout line is `<id> <outcome>`, the outcome being
 * `OK` or the gRPC status name. Calls run one at a time, in order. The line
 * `{"id": 2, "reset": true}` replaces every channel by a new one with new
 * connections (answered `2 RESET`): a grpc-js-xds server keeps enforcing,
 * on a connection, the listener that was current when it was accepted. It
 * prints `READY` once every channel is created, and exits when stdin closes.
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";

const BOOTSTRAP_OPTION = "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config";

export interface CallerChannel {
  readonly target: string;
  readonly bootstrap: object;
}

export interface CallerRequest {
  readonly id: number;
  readonly channel: string;
  readonly path: string;
  readonly metadata?: Record<string, string>;
}

interface ResetRequest {
  readonly id: number;
  readonly reset: true;
}

function main(): void {
  const { values } = parseArgs({ options: { channels: { type: "string" } }, strict: true });
  const specs = JSON.parse(values.channels ?? "{}") as Record<string, CallerChannel>;
  grpcXds.register();
  // A channel of its own subchannel pool never shares a connection with an earlier channel.
  const open = () =>
    new Map(
      Object.entries(specs).map(([name, spec]) => [
        name,
        new Client(spec.target, new grpcXds.XdsChannelCredentials(credentials.createInsecure()), {
          [BOOTSTRAP_OPTION]: JSON.stringify(spec.bootstrap),
          "grpc.use_local_subchannel_pool": 1,
        }),
      ]),
    );
  let channels = open();
  let queue = Promise.resolve();
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    const request = JSON.parse(line) as CallerRequest | ResetRequest;
    queue = queue.then(async () => {
      if ("reset" in request) {
        for (const client of channels.values()) client.close();
        channels = open();
        process.stdout.write(`${request.id} RESET\n`);
      } else {
        process.stdout.write(`${request.id} ${await call(channels, request)}\n`);
      }
    });
  });
  lines.on("close", () => {
    void queue.then(() => process.exit(0));
  });
  process.stdout.write("READY\n");
}

function call(channels: Map<string, Client>, request: CallerRequest): Promise<string> {
  const client = channels.get(request.channel);
  if (!client) return Promise.resolve(`NO_SUCH_CHANNEL ${request.channel}`);
  const metadata = new Metadata({ waitForReady: true });
  for (const [key, value] of Object.entries(request.metadata ?? {})) metadata.set(key, value);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      request.path,
      (value: object) => Buffer.from(JSON.stringify(value)),
      (bytes: Buffer) => bytes,
      { message: "call" },
      metadata,
      { deadline: Date.now() + 10_000 },
      (error: ServiceError | null) => resolve(error ? (status[error.code] ?? `CODE_${error.code}`) : "OK"),
    );
  });
}

main();
