import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { APP_PROBERS_ENV, type AppProber, type AppProbers } from "../mesh/app-probers.js";
import { AGENT_HEALTH_PORT } from "../mesh/proxy.js";
import { probeApp } from "./app-probe.js";

export interface AppHealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * The sidecar agent's application health server (Istio's status port): the
 * injector rewrote the application's HTTP and TCP probes to
 * `/app-health/<container>/<kind>` here (src/inject/probes.ts), because the
 * kubelet probes in plaintext and STRICT mTLS refuses that at the sidecar.
 * For each such path the agent makes the original probe from inside the Pod
 * and answers 200 if it passed, 500 (with why) if not; any other path is 404.
 * iptables does not capture this port, so the kubelet reaches it directly.
 *
 * Reads the probes from APP_PROBERS_ENV. Malformed JSON there throws: only a
 * hand edit of the injected Pod makes it, and an agent that cannot probe
 * should say so rather than leave the Pod unready without a reason.
 */
export async function serveAppHealth(
  env: Record<string, string | undefined>,
  logger: Logger,
): Promise<AppHealthServer> {
  return startAppHealthServer({ probers: parseAppProbers(env[APP_PROBERS_ENV]), logger });
}

export async function startAppHealthServer(options: {
  probers: AppProbers;
  logger: Logger;
  /** Default AGENT_HEALTH_PORT on every address; tests pass 0 and loopback. */
  port?: number;
  host?: string;
  /** Where the application listens: the Pod's loopback. */
  appHost?: string;
}): Promise<AppHealthServer> {
  const { probers, logger } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const prober = Object.hasOwn(probers, path) ? probers[path] : undefined;
    if (!prober) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`no probe at ${path}\n`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    void probeApp(prober, options.appHost).then((result) => {
      // Failures are the kubelet's to report; logged at debug so a failing Pod can be traced.
      if (!result.ok) logger.debug({ path, detail: result.detail }, "application probe failed");
      res.writeHead(result.ok ? 200 : 500, { "content-type": "text/plain" }).end(`${result.detail}\n`);
    });
  });
  // The agent ends with Envoy (the process exits with its code); this server must not keep it alive.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? AGENT_HEALTH_PORT, options.host ?? "0.0.0.0", resolve);
  });
  logger.info(
    { port: (server.address() as AddressInfo).port, probes: Object.keys(probers) },
    "application health",
  );
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The value of APP_PROBERS_ENV; none means no probes. Throws, naming the variable, when it is not what the injector writes. */
export function parseAppProbers(json: string | undefined): AppProbers {
  if (json === undefined || json === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new Error(`${APP_PROBERS_ENV} is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(parsed)) throw new Error(`${APP_PROBERS_ENV} must be an object of probes by path`);
  const probers: Record<string, AppProber> = {};
  for (const [path, value] of Object.entries(parsed)) {
    if (!/^\/app-health\/[^/]+\/(readyz|livez|startupz)$/.test(path))
      throw new Error(`${APP_PROBERS_ENV}: "${path}" is not /app-health/<container>/<readyz|livez|startupz>`);
    const prober = appProber(value);
    if (!prober)
      throw new Error(`${APP_PROBERS_ENV}: the probe at ${path} is not an httpGet or tcpSocket probe`);
    probers[path] = prober;
  }
  return probers;
}

function appProber(value: unknown): AppProber | undefined {
  if (!isRecord(value)) return undefined;
  const timeoutSeconds = value.timeoutSeconds;
  if (typeof timeoutSeconds !== "number" || !(timeoutSeconds >= 1)) return undefined;
  const { httpGet, tcpSocket } = value;
  if (isRecord(httpGet)) {
    const { path, port, scheme, httpHeaders } = httpGet;
    if (typeof path !== "string" || !path.startsWith("/") || !isPort(port)) return undefined;
    if (scheme !== "HTTP" && scheme !== "HTTPS") return undefined;
    if (httpHeaders === undefined) return { httpGet: { path, port, scheme }, timeoutSeconds };
    if (!Array.isArray(httpHeaders) || !httpHeaders.every(isHeader)) return undefined;
    return { httpGet: { path, port, scheme, httpHeaders }, timeoutSeconds };
  }
  if (isRecord(tcpSocket) && isPort(tcpSocket.port))
    return { tcpSocket: { port: tcpSocket.port }, timeoutSeconds };
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isPort = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isHeader = (v: unknown): v is { name: string; value: string } =>
  isRecord(v) && typeof v.name === "string" && typeof v.value === "string";
