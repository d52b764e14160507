import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";

/** One span as the OTLP receiver (hack/otlpreceiver) prints it; ids are hex. */
export interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: string;
}

/**
 * A real OTLP/gRPC trace receiver: a small Go program on the official
 * opentelemetry-proto Go module and grpc-go (built once by
 * hack/otlpreceiver/build.sh), which prints each span it receives.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private constructor(
    private readonly child: ChildProcess,
    readonly address: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const build = join(import.meta.dirname, "..", "..", "hack", "otlpreceiver", "build.sh");
    const binary = execFileSync(build, { encoding: "utf8" }).trim();
    const child = spawn(binary, [], { stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout! });
    let receiver: OtlpReceiver | undefined;
    return new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`otlpreceiver exited with ${code}`)));
      lines.on("line", (line) => {
        if (!receiver) {
          const match = /^listening (\S+)$/.exec(line);
          if (!match) return reject(new Error(`otlpreceiver said: ${line}`));
          receiver = new OtlpReceiver(child, match[1]!);
          resolve(receiver);
        } else receiver.spans.push(JSON.parse(line) as ReceivedSpan);
      });
    });
  }

  stop(): void {
    this.child.kill("SIGTERM");
  }
}
