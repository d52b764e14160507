import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import type { JsonObject } from "@bufbuild/protobuf";
import { envoyBinary } from "../../src/localnode/tools.js";
import { createSelfSignedCa, issueLeaf, type KeyPair } from "../../src/pki/issue.js";
import { x509 } from "../../src/pki/crypto.js";
import { typed } from "../../src/xds/translate/json.js";
import type { GeneratedRequest } from "./arbitrary-authorization.js";
import { HttpConnection, type SocketOptions } from "./raw-http.js";

/**
 * One real Envoy that enforces many policy sets at once, each with the RBAC
 * filters our translation (`rbacFilters`) writes, so that thousands of
 * authorization cases need one start:
 *
 * - Each set is a listener of its own, on its own three ports, at every
 *   destination address of the pools (explicit loopback addresses, nothing
 *   on the wildcard). HTTP sets end in a direct response (200), TCP sets in
 *   a tcp_proxy to a local server that answers the first byte with "ok".
 * - Like a PERMISSIVE inbound port, a listener takes mTLS (a client
 *   certificate from the test CA is required; its URI SAN is the principal)
 *   and plaintext, told apart by the TLS inspector.
 * - Clients connect from the request's source address (any 127/8 address,
 *   or ::1), so `source.ip` and `destination.ip` are the socket's own.
 * - What Envoy decided, and which rule, is read from its access log: the
 *   response code and its details (`rbac_access_denied_matched_policy[..]`),
 *   the connection termination details for TCP, and the RBAC filters'
 *   dynamic metadata (effective policy ids, enforced and shadow).
 */

/** One listener: a policy set's filters for one protocol, on its ports. */
export interface OracleSet {
  readonly protocol: "HTTP" | "TCP";
  /** The RBAC filters, as `rbacFilters` returns them. */
  readonly filters: readonly JsonObject[];
  /** The three ports this set listens on; its requests and policies name them. */
  readonly ports: readonly number[];
}

/** What Envoy did with one request. */
export interface EnvoyVerdict {
  readonly allowed: boolean;
  /** RESPONSE_CODE_DETAILS (HTTP) or CONNECTION_TERMINATION_DETAILS (TCP); "" when none. */
  readonly details: string;
  /** The RBAC dynamic metadata: HTTP's or the network filter's, field by field. */
  readonly metadata: Readonly<Record<string, string>>;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CASE_HEADER = "x-skiff-case";

export class EnvoyRbacOracle {
  private constructor(
    private readonly child: ChildProcess,
    private readonly upstream: Server,
    private readonly dir: string,
    private readonly logPath: string,
    private readonly ca: string,
    private readonly clients: ReadonlyMap<string, KeyPair>,
  ) {}

  private logOffset = 0;
  /**
   * Access log entries not yet matched to a request, by key, in log order. A
   * TCP key is the connection's address pair, which a later connection may
   * reuse once the earlier one is closed, so one key can hold several.
   */
  private logged = new Map<string, Json[]>();
  /** Counts connections, so that requests that share a key take its entries in connection order. */
  private connectionsOpened = 0;
  private connections = new Map<string, Promise<HttpConnection>>();

  /** Starts Envoy with every set loaded; resolves once every listener is up. */
  static async start(
    sets: readonly OracleSet[],
    options: { destinationIps: readonly string[]; principals: readonly string[] },
  ): Promise<EnvoyRbacOracle> {
    const dir = mkdtempSync(join(tmpdir(), "skiff-rbac-oracle-"));
    const now = new Date();
    const later = new Date(now.getTime() + 24 * 3600_000);
    const ca = await createSelfSignedCa("CN=rbac oracle", new Date(now.getTime() - 60_000), later);
    const leaf = (uri: string | undefined, subject: string) =>
      issueLeaf(ca, {
        subject,
        usage: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        ...(uri ? { sans: [{ type: "url" as const, value: uri }] } : {}),
        notBefore: new Date(now.getTime() - 60_000),
        notAfter: later,
      });
    const server = await leaf(undefined, "CN=workload");
    const clients = new Map<string, KeyPair>();
    for (const principal of options.principals)
      clients.set(principal, await leaf(`spiffe://${principal}`, ""));
    for (const [name, pem] of [
      ["ca.pem", ca.pair.certPem],
      ["server.pem", server.certPem],
      ["server.key", server.keyPem],
    ] as const)
      writeFileSync(join(dir, name), pem);

    const upstream = createServer((socket) => {
      socket.once("data", () => socket.end("ok"));
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const logPath = join(dir, "access.log");
    writeFileSync(logPath, "");
    const bootstrap = {
      admin: { address: { socket_address: { address: "127.0.0.1", port_value: 0 } } },
      static_resources: {
        clusters: [
          {
            name: "upstream",
            type: "STATIC",
            connect_timeout: "5s",
            load_assignment: {
              cluster_name: "upstream",
              endpoints: [
                {
                  lb_endpoints: [
                    {
                      endpoint: {
                        address: {
                          socket_address: {
                            address: "127.0.0.1",
                            port_value: (upstream.address() as AddressInfo).port,
                          },
                        },
                      },
                    },
                  ],
                },
              ],
            },
          },
        ],
        listeners: sets.map((set, i) => listener(set, i, options.destinationIps, dir, logPath)),
      },
    };
    const config = join(dir, "envoy.json");
    writeFileSync(config, JSON.stringify(bootstrap));
    const adminPath = join(dir, "admin");
    const child = spawn(
      await envoyBinary(),
      [
        ...["-c", config, "--admin-address-path", adminPath, "--use-dynamic-base-id"],
        ...["--concurrency", "1", "--log-level", "error", "--file-flush-interval-msec", "10"],
      ],
      { cwd: dir, env: { ...process.env, TMPDIR: dir }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`Envoy exited with ${code}: ${stderr}`))),
    );
    const oracle = new EnvoyRbacOracle(child, upstream, dir, logPath, ca.pair.certPem, clients);
    // Ready is an event: the admin endpoint reports every listener started (LIVE, listeners bound).
    await Promise.race([exited, oracle.live(adminPath)]);
    return oracle;
  }

  private async live(adminPath: string): Promise<void> {
    for (;;) {
      const admin = await readFile(adminPath, "utf8").catch(() => "");
      if (admin) {
        const ready = await fetch(`http://${admin.trim()}/ready`).catch(() => undefined);
        if (ready?.status === 200) return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Envoy's verdicts on requests (each to its set's listener), `concurrency` at a time. */
  async ask(requests: readonly GeneratedRequest[], concurrency = 8): Promise<EnvoyVerdict[]> {
    const keys: { key: string; order: number }[] = new Array(requests.length);
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const i = next++;
        keys[i] = await this.send(requests[i]!, i);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const wanted = new Map<string, number>();
    for (const { key } of keys) wanted.set(key, (wanted.get(key) ?? 0) + 1);
    await this.waitForLog(wanted);
    const verdicts: EnvoyVerdict[] = new Array(requests.length);
    const byOrder = keys.map((k, i) => ({ ...k, i })).sort((a, b) => a.order - b.order);
    for (const { key, i } of byOrder) verdicts[i] = verdict(this.logged.get(key)!.shift()!);
    return verdicts;
  }

  async stop(): Promise<void> {
    for (const connection of this.connections.values()) (await connection).close();
    this.child.kill("SIGKILL");
    await new Promise((resolve) => this.upstream.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private tlsOptions(principal: string) {
    const pair = this.clients.get(principal);
    if (!pair) throw new Error(`no client certificate for ${principal}`);
    // No SNI (the destination is an address) and no check of the server's name: what is tested is the server's RBAC.
    return { cert: pair.certPem, key: pair.keyPem, ca: this.ca, checkServerIdentity: () => undefined };
  }

  /** Sends one request; returns the key its access log entry carries, and when its connection opened. */
  private async send(r: GeneratedRequest, id: number): Promise<{ key: string; order: number }> {
    if (r.protocol === "HTTP") return { key: await this.sendHttp(r, id), order: 0 };
    return this.sendTcp(r);
  }

  /**
   * HTTP/1.1 written by hand, on one kept-alive connection per source,
   * destination and principal: Node's client upper-cases methods and will
   * not send an empty Host, and both are cases worth asking Envoy about.
   */
  private async sendHttp(r: GeneratedRequest, id: number): Promise<string> {
    const connectionKey = `${r.principal}|${r.sourceIp}|${r.destinationIp}|${r.port}`;
    const headers = { host: r.host, ...r.headers, [CASE_HEADER]: String(id) };
    const head =
      `${r.method} ${r.path} HTTP/1.1\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("") +
      "\r\n";
    for (let attempt = 0; ; attempt++) {
      let connection = this.connections.get(connectionKey);
      if (!connection || (await connection).closed) {
        connection = HttpConnection.open(this.socketOptions(r));
        this.connections.set(connectionKey, connection);
      }
      try {
        await (await connection).request(head);
        return `http:${id}`;
      } catch (e) {
        // Envoy may close a kept-alive connection between two requests; a new one is the client's answer.
        if (attempt > 0) throw e;
      }
    }
  }

  private socketOptions(r: GeneratedRequest): SocketOptions {
    return {
      host: r.destinationIp,
      port: r.port,
      localAddress: r.sourceIp,
      ...(r.principal === null ? {} : { tls: this.tlsOptions(r.principal) }),
    };
  }

  private sendTcp(r: GeneratedRequest): Promise<{ key: string; order: number }> {
    return new Promise((resolve, reject) => {
      const { tls, ...options } = this.socketOptions(r);
      let key = "";
      let order = 0;
      const onConnect = () => {
        key = `tcp:${peer(socket)}`;
        order = this.connectionsOpened++;
        // Five bytes at least: the TLS inspector needs a record header to tell plaintext from TLS.
        socket.write("hello\n");
      };
      const socket: Socket =
        tls === undefined ? netConnect(options, onConnect) : tlsConnect({ ...options, ...tls }, onConnect);
      socket.on("data", () => socket.end());
      // A denied connection is closed by Envoy, sometimes with a reset.
      socket.on("error", () => {});
      socket.on("close", () =>
        key ? resolve({ key, order }) : reject(new Error(`${r.destinationIp}:${r.port}: no connection`)),
      );
    });
  }

  /** Waits for this many access log entries of each key (the file is flushed every 10 ms). */
  private async waitForLog(wanted: ReadonlyMap<string, number>): Promise<void> {
    const handle = await open(this.logPath, "r");
    try {
      let partial = "";
      const missing = () => [...wanted].some(([k, n]) => (this.logged.get(k)?.length ?? 0) < n);
      while (missing()) {
        const buffer = Buffer.alloc(1 << 20);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.logOffset);
        if (bytesRead === 0) {
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        this.logOffset += bytesRead;
        const text = partial + buffer.subarray(0, bytesRead).toString("utf8");
        const lines = text.split("\n");
        partial = lines.pop()!;
        for (const line of lines) {
          const entry = JSON.parse(line) as Json;
          const key = entry.case ? `http:${entry.case}` : `tcp:${entry.peer}`;
          const list = this.logged.get(key) ?? [];
          list.push(entry);
          this.logged.set(key, list);
        }
      }
      if (partial) this.logOffset -= Buffer.byteLength(partial);
    } finally {
      await handle.close();
    }
  }

  /** The stats Envoy keeps, as name -> value (counters and gauges). */
  async stats(): Promise<Map<string, number>> {
    const admin = readFileSync(join(this.dir, "admin"), "utf8").trim();
    const text = await (await fetch(`http://${admin}/stats?usedonly`)).text();
    return new Map(
      text
        .split("\n")
        .map((line) => /^(.+): (\d+)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => [m[1]!, Number(m[2])]),
    );
  }
}

/** The address Envoy logs as DOWNSTREAM_REMOTE_ADDRESS: `ip:port`, `[ip]:port` for IPv6. */
function peer(socket: Socket): string {
  const ip = socket.localAddress ?? "";
  return `${ip.includes(":") ? `[${ip}]` : ip}:${socket.localPort}`;
}

function verdict(entry: Json): EnvoyVerdict {
  const http = entry.case !== undefined && entry.case !== null;
  const metadata: Record<string, string> = {};
  for (const source of [entry.http_rbac, entry.network_rbac])
    if (source && typeof source === "object")
      for (const [k, v] of Object.entries(source as Json)) metadata[k] = String(v);
  return http
    ? { allowed: entry.code === 200, details: String(entry.details ?? ""), metadata }
    : {
        allowed: entry.upstream_bytes > 0,
        details: String(entry.termination ?? ""),
        metadata,
      };
}

const ACCESS_LOG_FORMAT = {
  case: `%REQ(${CASE_HEADER})%`,
  peer: "%DOWNSTREAM_REMOTE_ADDRESS%",
  code: "%RESPONSE_CODE%",
  details: "%RESPONSE_CODE_DETAILS%",
  termination: "%CONNECTION_TERMINATION_DETAILS%",
  upstream_bytes: "%BYTES_SENT%",
  http_rbac: "%DYNAMIC_METADATA(envoy.filters.http.rbac)%",
  network_rbac: "%DYNAMIC_METADATA(envoy.filters.network.rbac)%",
};

function accessLog(logPath: string): Json[] {
  return [
    {
      name: "envoy.access_loggers.file",
      typed_config: typed("envoy.extensions.access_loggers.file.v3.FileAccessLog", {
        path: logPath,
        log_format: { json_format: ACCESS_LOG_FORMAT },
      }),
    },
  ];
}

function listener(
  set: OracleSet,
  index: number,
  destinationIps: readonly string[],
  dir: string,
  logPath: string,
): Json {
  const addresses = destinationIps.flatMap((ip) =>
    set.ports.map((port) => ({ address: { socket_address: { address: ip, port_value: port } } })),
  );
  const filters =
    set.protocol === "HTTP"
      ? [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: typed(
              "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              {
                stat_prefix: `set${index}`,
                route_config: {
                  virtual_hosts: [
                    {
                      name: "any",
                      domains: ["*"],
                      routes: [{ match: { prefix: "/" }, direct_response: { status: 200 } }],
                    },
                  ],
                },
                http_filters: [
                  ...set.filters,
                  {
                    name: "envoy.filters.http.router",
                    typed_config: typed("envoy.extensions.filters.http.router.v3.Router"),
                  },
                ],
                access_log: accessLog(logPath),
              },
            ),
          },
        ]
      : [
          ...set.filters,
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: typed("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
              stat_prefix: `set${index}`,
              cluster: "upstream",
              access_log: accessLog(logPath),
            }),
          },
        ];
  const tls = {
    name: "envoy.transport_sockets.tls",
    typed_config: typed("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
      require_client_certificate: true,
      common_tls_context: {
        tls_certificates: [
          {
            certificate_chain: { filename: join(dir, "server.pem") },
            private_key: { filename: join(dir, "server.key") },
          },
        ],
        validation_context: { trusted_ca: { filename: join(dir, "ca.pem") } },
      },
    }),
  };
  return {
    name: `set${index}`,
    address: addresses[0]!.address,
    additional_addresses: addresses.slice(1),
    listener_filters: [
      {
        name: "envoy.filters.listener.tls_inspector",
        typed_config: typed("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"),
      },
    ],
    filter_chains: [
      { name: "mtls", filter_chain_match: { transport_protocol: "tls" }, transport_socket: tls, filters },
      { name: "plaintext", filters },
    ],
  };
}
