/**
 * The local node's process inside the node's network namespace. Node.js
 * cannot enter another namespace, so what must happen *from the node's
 * network* runs here, started under `nsenter --net`:
 * - forwarders: TCP listeners on the node's address that carry each
 *   connection to a Unix socket the host side serves (the kube-apiserver on
 *   the machine's loopback is otherwise out of the Pods' reach);
 * - probes: HTTP and TCP checks of Pod IPs, as the kubelet makes them from
 *   the node, asked for and answered as JSON lines on stdin and stdout.
 * It exits when stdin closes, so it never outlives the local node.
 */
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect, createServer } from "node:net";
import { createInterface } from "node:readline";

/** A probe the node makes, as the kubelet's prober does. */
export interface ProbeRequest {
  id: number;
  type: "http" | "tcp";
  host: string;
  port: number;
  path?: string;
  scheme?: "HTTP" | "HTTPS";
  headers?: { name: string; value: string }[];
  timeoutMs: number;
}

export interface ProbeResult {
  id: number;
  ok: boolean;
  detail: string;
}

function probe(req: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const done = (ok: boolean, detail: string) => resolve({ id: req.id, ok, detail });
    if (req.type === "tcp") {
      const socket = connect({ host: req.host, port: req.port, timeout: req.timeoutMs });
      socket.once("connect", () => {
        socket.destroy();
        done(true, "connected");
      });
      socket.once("timeout", () => {
        socket.destroy();
        done(false, `dial tcp ${req.host}:${req.port}: i/o timeout`);
      });
      socket.once("error", (error) => done(false, `dial tcp ${req.host}:${req.port}: ${error.message}`));
      return;
    }
    const headers: Record<string, string> = { "User-Agent": "kube-probe/1.37", Accept: "*/*" };
    for (const h of req.headers ?? []) headers[h.name] = h.value;
    const send = req.scheme === "HTTPS" ? httpsRequest : request;
    const r = send(
      {
        host: req.host,
        port: req.port,
        path: req.path ?? "/",
        headers,
        timeout: req.timeoutMs,
        // The kubelet does not verify probe certificates either.
        ...(req.scheme === "HTTPS" ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        done(code >= 200 && code < 400, `HTTP probe ${code === 0 ? "failed" : `returned ${code}`}`);
      },
    );
    r.once("timeout", () => r.destroy(new Error("timeout")));
    r.once("error", (error) => done(false, `Get ${req.path}: ${error.message}`));
    r.end();
  });
}

/** `--forward host:port=/path/to.sock`, repeated. */
function forwards(argv: string[]): { host: string; port: number; socket: string }[] {
  const out: { host: string; port: number; socket: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== "--forward") continue;
    const match = /^(.+):(\d+)=(.+)$/.exec(argv[++i] ?? "");
    if (!match) throw new Error(`--forward wants host:port=/socket, got ${argv[i]}`);
    out.push({ host: match[1]!, port: Number(match[2]), socket: match[3]! });
  }
  return out;
}

async function main(): Promise<void> {
  for (const forward of forwards(process.argv.slice(2))) {
    const server = createServer((client) => {
      const upstream = connect(forward.socket);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(forward.port, forward.host, resolve);
    });
  }
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    let req: ProbeRequest;
    try {
      req = JSON.parse(line) as ProbeRequest;
    } catch {
      return;
    }
    void probe(req).then((result) => process.stdout.write(JSON.stringify(result) + "\n"));
  });
  lines.on("close", () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`node-side: ${String(error)}\n`);
  process.exit(1);
});
