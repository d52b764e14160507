/**
 * A plain (non-xDS) grpc-js server of the Echo service, for traffic tests.
 *
 *   node --import tsx test/support/grpc/backend.ts --name v1 --address 127.0.0.1:0 \
 *     [--fail-ratio 0.5] [--fail-code UNAVAILABLE] [--delay-ms 0] [--ignore-stdin]
 *
 * It answers `{"backend": <name>, "echoedHeaders": {...}, "call": <n>}`, where
 * echoedHeaders holds every text metadata entry of the request except the
 * transport's own (`content-type`, `te`, `user-agent`, `accept-encoding`,
 * `grpc-*`); repeated keys are joined with ", ".
 *
 * --fail-ratio r (0..1) fails a deterministic share of the calls: the n-th
 * counted call (n = 1, 2, ...) fails iff floor(n*r) > floor((n-1)*r), so that
 * exactly floor(N*r) of the first N calls fail, spread evenly: 0.5 fails every
 * 2nd call (n = 2, 4, ...), 0.25 every 4th, 1 all of them. A failure is the
 * status --fail-code (a grpc status name, UNAVAILABLE by default), with the
 * trailer `x-skiff-backend: <name>`. --delay-ms sleeps before answering
 * (failures included). Calls with the `x-skiff-warmup` header are answered OK
 * at once and are not counted.
 *
 * --xds makes it an xDS-enabled server (@grpc/grpc-js-xds XdsServer, gRPC
 * A36) with xDS server credentials (mTLS when its listener says so,
 * plaintext otherwise): it reads its bootstrap from GRPC_XDS_BOOTSTRAP, asks
 * the xDS server for the listener of --address (which must then be a
 * literal IP and a non-zero port), and serves only once it has it. RBAC
 * filters apply with GRPC_XDS_EXPERIMENTAL_RBAC=true. Every answer says
 * whether the call came over TLS and, if so, the client certificate's URI
 * SAN (`peer`).
 *
 * Startup prints `LISTENING <port>` on stdout. It exits on SIGTERM/SIGINT, and
 * when its stdin reaches EOF (so a parent that dies never leaves it behind;
 * spawn it with stdin as a pipe, or pass --ignore-stdin). While it runs, each
 * stdin line may be a JSON object `{"failRatio"?, "delayMs"?, "failCode"?}`
 * that replaces those settings (and restarts the call count); it is
 * acknowledged with a `CONFIGURED` line on stdout.
 */
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { Metadata, Server, ServerCredentials, status, type ServerUnaryCall } from "@grpc/grpc-js";
import { register, XdsServer, XdsServerCredentials } from "@grpc/grpc-js-xds";
import {
  BACKEND_TRAILER,
  WARMUP_HEADER,
  echoService,
  OTHER_PATHS,
  otherPathsService,
  type EchoRequest,
  type EchoResponse,
  type EchoServer,
} from "./echo.js";

interface Behaviour {
  failRatio: number;
  failCode: status;
  delayMs: number;
}

const TRANSPORT_HEADERS = new Set(["content-type", "te", "user-agent", "accept-encoding"]);

function statusCode(name: string): status {
  const code = (status as unknown as Record<string, unknown>)[name.toUpperCase()];
  if (typeof code !== "number") throw new Error(`unknown grpc status name: ${name}`);
  return code as status;
}

function checkRatio(value: number): number {
  if (!(value >= 0 && value <= 1)) throw new Error(`fail ratio must be within [0, 1], got ${value}`);
  return value;
}

function checkDelay(value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`delay must be a number >= 0, got ${value}`);
  return value;
}

/** Whether the n-th call (from 1) is one of the floor(N*ratio) failing calls among the first N. */
export function failsCall(n: number, ratio: number): boolean {
  // The epsilon keeps ratios like 0.1 or 0.3 exact despite binary floating point.
  return Math.floor(n * ratio + 1e-9) > Math.floor((n - 1) * ratio + 1e-9);
}

function echoedHeaders(metadata: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (TRANSPORT_HEADERS.has(key) || key.startsWith("grpc-") || key.endsWith("-bin")) continue;
    if (typeof value !== "string") continue;
    out[key] = metadata.get(key).map(String).join(", ");
  }
  return out;
}

/** How the call reached the server: over TLS (with the client certificate's URI SAN) or in plaintext. */
function peerOf(call: ServerUnaryCall<EchoRequest, EchoResponse>): Pick<EchoResponse, "transport" | "peer"> {
  const auth = call.getAuthContext();
  if (auth.transportSecurityType !== "ssl") return { transport: "plaintext" };
  const uri = auth.sslPeerCertificate?.subjectaltname
    ?.split(", ")
    .find((san) => san.startsWith("URI:"))
    ?.slice("URI:".length);
  return { transport: "tls", ...(uri ? { peer: uri } : {}) };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      name: { type: "string" },
      address: { type: "string", default: "127.0.0.1:0" },
      "fail-ratio": { type: "string", default: "0" },
      "fail-code": { type: "string", default: "UNAVAILABLE" },
      "delay-ms": { type: "string", default: "0" },
      "ignore-stdin": { type: "boolean", default: false },
      xds: { type: "boolean", default: false },
    },
    strict: true,
  });
  const name = values.name;
  if (!name) throw new Error("--name is required");
  const behaviour: Behaviour = {
    failRatio: checkRatio(Number(values["fail-ratio"])),
    failCode: statusCode(values["fail-code"]),
    delayMs: checkDelay(Number(values["delay-ms"])),
  };
  let calls = 0;

  const impl: EchoServer = {
    call: (call: ServerUnaryCall<EchoRequest, EchoResponse>, callback) => {
      const reply: EchoResponse = {
        backend: name,
        echoedHeaders: echoedHeaders(call.metadata),
        call: 0,
        ...peerOf(call),
      };
      if (call.metadata.get(WARMUP_HEADER).length > 0) {
        callback(null, reply);
        return;
      }
      const n = ++calls;
      const { failRatio, failCode, delayMs } = behaviour;
      const answer = (): void => {
        if (failsCall(n, failRatio)) {
          const trailer = new Metadata();
          trailer.set(BACKEND_TRAILER, name);
          callback({ code: failCode, details: `${name} failed call ${n} on purpose`, metadata: trailer });
        } else {
          callback(null, { ...reply, call: n });
        }
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    },
  };

  // register() also registers the HTTP filters (router, RBAC) that server listeners name.
  if (values.xds) register();
  const server = values.xds ? new XdsServer() : new Server();
  server.addService(echoService, impl);
  server.addService(otherPathsService, Object.fromEntries(OTHER_PATHS.map((_, i) => [`m${i}`, impl.call])));
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      server.forceShutdown();
      process.exit(code);
    }, 2000);
    force.unref();
    server.tryShutdown(() => process.exit(code));
  };
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));

  const insecure = ServerCredentials.createInsecure();
  const credentials = values.xds ? new XdsServerCredentials(insecure) : insecure;
  server.bindAsync(values.address, credentials, (error, port) => {
    if (error) {
      process.stderr.write(`backend ${name}: cannot listen on ${values.address}: ${error.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`LISTENING ${port}\n`);
    if (values["ignore-stdin"]) return;
    const lines = createInterface({ input: process.stdin });
    lines.on("line", (line) => {
      if (line.trim() === "") return;
      try {
        const update = JSON.parse(line) as { failRatio?: number; delayMs?: number; failCode?: string };
        if (update.failRatio !== undefined) behaviour.failRatio = checkRatio(update.failRatio);
        if (update.delayMs !== undefined) behaviour.delayMs = checkDelay(update.delayMs);
        if (update.failCode !== undefined) behaviour.failCode = statusCode(update.failCode);
        calls = 0;
        process.stdout.write("CONFIGURED\n");
      } catch (e) {
        process.stdout.write(`ERROR ${(e as Error).message}\n`);
      }
    });
    lines.on("close", () => stop(0));
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
