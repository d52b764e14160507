/**
 * Protocols through real Envoy sidecars: TCP, HTTP/1.1, HTTP/2, gRPC and
 * WebSocket, each declared by the Service port's name and by its
 * appProtocol (Istio's rules). Every exchange must pass both sidecars (the
 * client's outbound cluster and the server's inbound cluster count it) and
 * be handled as declared: a TCP port gets a tcp_proxy, an HTTP port an HTTP
 * connection manager, and an HTTP/2 port reaches the application as HTTP/2
 * whatever the client spoke.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dumpedCluster, dumpedListener, statDeltas, waitForHealthyEndpoints } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  curl,
  deleteNamespace,
  exec,
  fortioDeployment,
  log,
  meshNamespace,
  podOf,
  rest,
  service,
  skipUnlessSupported,
  spawnInPod,
  waitPodsReady,
} from "./kit.js";
import { fortioLoad, type FortioResult } from "./load.js";

const NS = "e2e-proto";
const host = (name: string) => `${name}.${NS}.svc.cluster.local`;
const TCP_PROXY = "envoy.filters.network.tcp_proxy";
const HCM = "envoy.filters.network.http_connection_manager";

// --- what the sidecars counted and hold --------------------------------------

type Json = Record<string, unknown>;

/** Prints what the sidecars counted, shortly: `client upstream_rq_total +6, server ...`. */
function note(what: string, deltas: Record<string, number>): void {
  const counts = Object.entries(deltas).map(([key, delta]) => {
    const [pod, stat] = key.split(": ") as [string, string];
    const kind = stat.startsWith("cluster.") ? "cluster" : stat.split(".")[0];
    return `${pod === "client" ? "client" : "server"} ${kind} ${stat.slice(stat.lastIndexOf(".") + 1)} +${delta}`;
  });
  log(`${what}: ${counts.join(", ")}`);
}

function assertAllGrew(deltas: Record<string, number>, atLeast = 1): void {
  for (const [name, delta] of Object.entries(deltas))
    assert.ok(delta >= atLeast, `${name} grew by ${delta}, want >= ${atLeast}: ${JSON.stringify(deltas)}`);
}

const listener = (pod: string, name: string) => dumpedListener(NS, pod, name);
const cluster = (pod: string, name: string) => dumpedCluster(NS, pod, name);

type FilterChain = { name?: string; filters: { name: string; typed_config: Json }[] };

/** The network filters of a listener's chain: the only chain, or the one named. */
function chainFilters(listenerJson: Json, chainName?: string): string[] {
  const chains = listenerJson.filter_chains as FilterChain[];
  const chain = chainName === undefined ? chains[0] : chains.find((c) => c.name === chainName);
  assert.ok(chain, `no filter chain ${chainName ?? ""} in ${JSON.stringify(listenerJson.name)}`);
  return chain.filters.map((f) => f.name);
}

/** Whether a cluster speaks HTTP/2 to its endpoints. */
function speaksHttp2(clusterJson: Json): boolean {
  return JSON.stringify(clusterJson.typed_extension_protocol_options ?? {}).includes(
    "http2_protocol_options",
  );
}

// --- the workloads ----------------------------------------------------------

interface ServiceObject {
  spec: { clusterIP: string };
}

const clusterIPs = new Map<string, string>();
let echoPod = "";
let h2Pod = "";

/** The client's outbound listener for a Service port: `<ClusterIP>_<port>`. */
const outboundListener = (svc: string, port: number) => `${clusterIPs.get(svc)}_${port}`;
const outboundCluster = (svc: string, port: number) => `outbound|${port}||${host(svc)}`;

/** The stats that prove a connection passed the client's sidecar and the server's. */
function tcpPath(svc: string, port: number, serverPod: string, targetPort: number) {
  return {
    client: [
      `cluster.${outboundCluster(svc, port)}.upstream_cx_total`,
      `tcp.${outboundListener(svc, port)}.downstream_cx_total`,
    ],
    [serverPod]: [
      `cluster.inbound|${targetPort}||.upstream_cx_total`,
      `tcp.inbound|${targetPort}||.downstream_cx_total`,
    ],
  };
}

function httpPath(svc: string, port: number, serverPod: string, targetPort: number) {
  return {
    client: [
      `cluster.${outboundCluster(svc, port)}.upstream_rq_total`,
      `http.${outboundListener(svc, port)}.downstream_rq_total`,
    ],
    [serverPod]: [
      `cluster.inbound|${targetPort}||.upstream_rq_total`,
      `http.inbound|${targetPort}||.downstream_rq_total`,
    ],
  };
}

describe("protocols through Envoy sidecars", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      // fortio's server also runs its TCP echo on 8078.
      fortioDeployment(NS, "echo"),
      fortioDeployment(NS, "h2"),
      // Protocols by port name: <protocol>[-suffix]; an unknown name is TCP.
      service(
        NS,
        "named",
        [
          { name: "tcp-echo", port: 9078, targetPort: 8078 },
          { name: "echo", port: 9077, targetPort: 8078 },
          { name: "http", port: 9080, targetPort: 8080 },
          { name: "grpc", port: 9079, targetPort: 8079 },
          { name: "http-ws", port: 9090, targetPort: 8090 },
        ],
        { app: "echo" },
      ),
      // Protocols by appProtocol, which wins over the name.
      service(
        NS,
        "declared",
        [
          { name: "http-raw", appProtocol: "tcp", port: 7078, targetPort: 8078 },
          { name: "web", appProtocol: "http", port: 7080, targetPort: 8080 },
          { name: "ping", appProtocol: "grpc", port: 7079, targetPort: 8079 },
        ],
        { app: "echo" },
      ),
      // fortio's HTTP server takes h2c with prior knowledge too.
      service(
        NS,
        "h2",
        [
          { name: "http2", port: 9082, targetPort: 8080 },
          { name: "web", appProtocol: "kubernetes.io/h2c", port: 7082, targetPort: 8080 },
        ],
        { app: "h2" },
      ),
      // One port number over TCP and UDP, as DNS and HTTP/3 Services have it;
      // fortio's server also runs its UDP echo on 8078.
      service(
        NS,
        "dual",
        [
          { name: "http", port: 9085, targetPort: 8080 },
          { name: "udp-echo", port: 9085, targetPort: 8078, protocol: "UDP" },
        ],
        { app: "echo" },
      ),
      clientPod(NS),
    ]);
    await waitPodsReady(NS, 3);
    for (const svc of ["named", "declared", "h2", "dual"]) {
      const object = await rest().request<ServiceObject>("GET", `/api/v1/namespaces/${NS}/services/${svc}`);
      clusterIPs.set(svc, object.spec.clusterIP);
    }
    echoPod = (await podOf(NS, "app=echo")).metadata.name;
    h2Pod = (await podOf(NS, "app=h2")).metadata.name;
    // The client's sidecar may have become ready before the Services reached it.
    const expected: [string, number][] = [
      ["named", 9078],
      ["named", 9077],
      ["named", 9080],
      ["named", 9079],
      ["named", 9090],
      ["declared", 7078],
      ["declared", 7080],
      ["declared", 7079],
      ["h2", 9082],
      ["h2", 7082],
      ["dual", 9085],
    ];
    await waitForHealthyEndpoints(
      NS,
      "client",
      expected.map(([svc, port]) => outboundCluster(svc, port)),
    );
  });
  after(() => deleteNamespace(NS));

  it("TCP (port named tcp-*, an unknown name, appProtocol tcp on an http-* name): tcp_proxy both ways, bytes echoed", async () => {
    for (const [svc, port, targetPort] of [
      ["named", 9078, 8078],
      ["named", 9077, 8078],
      ["declared", 7078, 8078],
    ] as const) {
      assert.deepEqual(
        chainFilters(await listener("client", outboundListener(svc, port))),
        [TCP_PROXY],
        `${svc}:${port}`,
      );
      let result: Partial<FortioResult> = {};
      const { deltas } = await statDeltas(NS, tcpPath(svc, port, echoPod, targetPort), async () => {
        result = await fortioLoad(NS, "client", [
          "-qps",
          "-1",
          "-n",
          "20",
          "-c",
          "2",
          `tcp://${svc}:${port}`,
        ]);
      });
      assert.deepEqual(result.RetCodes, { OK: 20 }, `${svc}:${port}: ${JSON.stringify(result.RetCodes)}`);
      assert.ok((result.BytesSent as number) > 0);
      assert.equal(result.BytesReceived, result.BytesSent, `${svc}:${port}: echoed bytes`);
      note(`TCP ${svc}:${port}`, deltas);
      // One connection per fortio thread, through each sidecar.
      assertAllGrew(deltas, 2);
    }
    assert.deepEqual(chainFilters(await listener(echoPod, "virtualInbound"), "inbound|8078||"), [TCP_PROXY]);
    assert.equal(speaksHttp2(await cluster(echoPod, "inbound|8078||")), false);
  });

  it("HTTP/1.1 (port named http, appProtocol http on a plain name): an HTTP connection manager both ways", async () => {
    for (const [svc, port] of [
      ["named", 9080],
      ["declared", 7080],
    ] as const) {
      assert.deepEqual(
        chainFilters(await listener("client", outboundListener(svc, port))),
        [HCM],
        `${svc}:${port}`,
      );
      assert.equal(speaksHttp2(await cluster("client", outboundCluster(svc, port))), false);
      let responses: Awaited<ReturnType<typeof curl>> = [];
      const { deltas } = await statDeltas(NS, httpPath(svc, port, echoPod, 8080), async () => {
        // Even a client speaking HTTP/2 reaches an HTTP port's application as HTTP/1.1.
        responses = [
          ...(await curl(NS, "client", `http://${svc}:${port}/debug`, { count: 5 })),
          ...(await curl(NS, "client", `http://${svc}:${port}/debug`, { args: ["--http2-prior-knowledge"] })),
        ];
      });
      for (const r of responses) {
        assert.equal(r.status, 200, r.body);
        assert.match(r.body, /^GET \/debug HTTP\/1\.1$/m);
        // Envoy's connection managers handled it: a request id, and Envoy's server header.
        assert.match(r.body, /^X-Request-Id: /im);
        assert.equal(r.headers.server, "envoy");
      }
      note(`HTTP/1.1 ${svc}:${port}`, deltas);
      assertAllGrew(deltas, 6);
    }
    assert.deepEqual(chainFilters(await listener(echoPod, "virtualInbound"), "inbound|8080||"), [HCM]);
    assert.equal(speaksHttp2(await cluster(echoPod, "inbound|8080||")), false);
  });

  it("HTTP/2 (port named http2, appProtocol kubernetes.io/h2c): h2c end to end, the application sees HTTP/2", async () => {
    for (const [svc, port] of [
      ["h2", 9082],
      ["h2", 7082],
    ] as const) {
      assert.deepEqual(
        chainFilters(await listener("client", outboundListener(svc, port))),
        [HCM],
        `${svc}:${port}`,
      );
      assert.equal(speaksHttp2(await cluster("client", outboundCluster(svc, port))), true, `${svc}:${port}`);
      const responses: Awaited<ReturnType<typeof curl>> = [];
      let load: Partial<FortioResult> = {};
      const { deltas } = await statDeltas(
        NS,
        {
          ...httpPath(svc, port, h2Pod, 8080),
          client: [
            ...httpPath(svc, port, h2Pod, 8080).client,
            `cluster.${outboundCluster(svc, port)}.upstream_cx_http2_total`,
          ],
        },
        async () => {
          // One curl per HTTP/2 request: curl 7.88 fails a transfer that
          // reuses an h2c prior-knowledge connection after --next ("Error in
          // the HTTP2 framing layer"), with or without Envoy in the path.
          for (let i = 0; i < 3; i++)
            responses.push(
              ...(await curl(NS, "client", `http://${svc}:${port}/debug`, {
                args: ["--http2-prior-knowledge"],
              })),
            );
          // A client speaking HTTP/1.1 is upgraded by the sidecars: the port says HTTP/2.
          responses.push(...(await curl(NS, "client", `http://${svc}:${port}/debug`, { count: 2 })));
          load = await fortioLoad(NS, "client", [
            "-h2",
            "-qps",
            "-1",
            "-n",
            "20",
            `http://${svc}:${port}/echo?size=100`,
          ]);
        },
      );
      for (const r of responses) {
        assert.equal(r.status, 200, JSON.stringify(r));
        assert.match(r.body, /^GET \/debug HTTP\/2\.0$/m, r.body);
      }
      assert.deepEqual(load.RetCodes, { "200": 20 }, JSON.stringify(load.RetCodes));
      note(`HTTP/2 ${svc}:${port}`, deltas);
      assertAllGrew(deltas, 1);
      assert.ok(
        deltas[`client: cluster.${outboundCluster(svc, port)}.upstream_rq_total`]! >= 25,
        JSON.stringify(deltas),
      );
    }
    assert.deepEqual(chainFilters(await listener(h2Pod, "virtualInbound"), "inbound|8080||"), [HCM]);
    assert.equal(speaksHttp2(await cluster(h2Pod, "inbound|8080||")), true);
  });

  it("gRPC (port named grpc, appProtocol grpc): fortio's gRPC ping over HTTP/2 through both sidecars", async () => {
    for (const [svc, port] of [
      ["named", 9079],
      ["declared", 7079],
    ] as const) {
      assert.deepEqual(
        chainFilters(await listener("client", outboundListener(svc, port))),
        [HCM],
        `${svc}:${port}`,
      );
      assert.equal(speaksHttp2(await cluster("client", outboundCluster(svc, port))), true);
      let load: Partial<FortioResult> = {};
      const { deltas } = await statDeltas(NS, httpPath(svc, port, echoPod, 8079), async () => {
        load = await fortioLoad(NS, "client", ["-grpc", "-ping", "-qps", "-1", "-n", "20", `${svc}:${port}`]);
      });
      // fortio counts a successful ping under the health status name.
      assert.deepEqual(load.RetCodes, { SERVING: 20 }, `${svc}:${port}: ${JSON.stringify(load.RetCodes)}`);
      note(`gRPC ${svc}:${port}`, deltas);
      assertAllGrew(deltas, 20);
    }
    assert.deepEqual(chainFilters(await listener(echoPod, "virtualInbound"), "inbound|8079||"), [HCM]);
    assert.equal(speaksHttp2(await cluster(echoPod, "inbound|8079||")), true);
  });

  it("UDP: a UDP Service port is left alone (not proxied) and does not displace the TCP port of the same number", async () => {
    assert.deepEqual(chainFilters(await listener("client", outboundListener("dual", 9085))), [HCM]);
    let responses: Awaited<ReturnType<typeof curl>> = [];
    let udp: Partial<FortioResult> = {};
    const { deltas } = await statDeltas(
      NS,
      {
        client: [
          `cluster.${outboundCluster("dual", 9085)}.upstream_rq_total`,
          `http.${outboundListener("dual", 9085)}.downstream_rq_total`,
        ],
      },
      async () => {
        responses = await curl(NS, "client", "http://dual:9085/debug", { count: 3 });
      },
    );
    for (const r of responses) {
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.match(r.body, /^GET \/debug HTTP\/1\.1$/m);
    }
    note("HTTP dual:9085 (TCP beside UDP)", deltas);
    assert.deepEqual(Object.values(deltas), [3, 3], JSON.stringify(deltas));
    // The sidecar captures TCP only: UDP datagrams reach fortio's UDP echo through kube-proxy.
    const { deltas: udpDeltas } = await statDeltas(
      NS,
      { client: ["cluster.PassthroughCluster.upstream_cx_total"] },
      async () => {
        udp = await fortioLoad(NS, "client", ["-qps", "-1", "-n", "10", "-c", "1", "udp://dual:9085"]);
      },
    );
    assert.deepEqual(udp.RetCodes, { OK: 10 }, JSON.stringify(udp.RetCodes));
    assert.equal(udp.BytesReceived, udp.BytesSent);
    assert.deepEqual(Object.values(udpDeltas), [0]);
  });

  describe("WebSocket", () => {
    let server: ChildProcess | undefined;
    after(() => {
      if (server?.pid !== undefined && server.exitCode === null) process.kill(server.pid, "SIGTERM");
    });

    it("upgrades through an HTTP port (named http-ws) and echoes messages both ways", async () => {
      // No image of the local node serves WebSocket, so a Node.js server
      // (the `ws` package) runs in the echo Pod's network namespace, beside
      // fortio: the echo Pod's sidecar captures its port like any other.
      const wsModule = createRequire(import.meta.url).resolve("ws");
      server = await startWebSocketServer(echoPod, wsModule, 8090);
      assert.deepEqual(chainFilters(await listener("client", outboundListener("named", 9090))), [HCM]);

      let outcome: {
        status?: number;
        headers?: Record<string, string>;
        messages?: string[];
        error?: string;
      } = {};
      const { deltas } = await statDeltas(
        NS,
        {
          client: [
            `http.${outboundListener("named", 9090)}.downstream_cx_upgrades_total`,
            `cluster.${outboundCluster("named", 9090)}.upstream_cx_total`,
          ],
          [echoPod]: [
            `http.inbound|8090||.downstream_cx_upgrades_total`,
            `cluster.inbound|8090||.upstream_cx_total`,
          ],
        },
        async () => {
          const result = await exec(NS, "client", [
            process.execPath,
            "-e",
            WS_CLIENT,
            wsModule,
            "ws://named:9090/chat",
          ]);
          outcome = JSON.parse(result.stdout || "{}") as typeof outcome;
          assert.equal(result.code, 0, `${result.stdout} ${result.stderr}`);
        },
      );
      assert.equal(outcome.status, 101);
      assert.equal(outcome.headers?.server, "envoy");
      const [seen, echoed] = outcome.messages ?? [];
      // The server saw the upgrade request as the client's sidecar forwarded it.
      const upgrade = JSON.parse(seen ?? "{}") as Record<string, string>;
      assert.equal(upgrade.upgrade?.toLowerCase(), "websocket");
      assert.ok(upgrade["x-request-id"], JSON.stringify(upgrade));
      assert.equal(echoed, "echo: hello through two sidecars");
      note("WebSocket named:9090", deltas);
      assertAllGrew(deltas, 1);
      assert.deepEqual(chainFilters(await listener(echoPod, "virtualInbound"), "inbound|8090||"), [HCM]);
    });
  });
});

/** Echoes every message with an "echo: " prefix, after sending the upgrade request's headers. */
const WS_SERVER = `
const { WebSocketServer } = require(process.argv[1]);
const server = new WebSocketServer({ port: Number(process.argv[2]) });
server.on("listening", () => console.log("listening"));
server.on("connection", (socket, request) => {
  socket.send(JSON.stringify(request.headers));
  socket.on("message", (data) => socket.send("echo: " + data));
});
process.on("SIGTERM", () => process.exit(0));
`;

/** Opens a WebSocket, sends one message, and prints what it saw as JSON. */
const WS_CLIENT = `
const WebSocket = require(process.argv[1]);
const out = { messages: [] };
const socket = new WebSocket(process.argv[2]);
const done = (code) => { console.log(JSON.stringify(out)); process.exit(code); };
socket.on("upgrade", (response) => { out.status = response.statusCode; out.headers = response.headers; });
socket.on("open", () => socket.send("hello through two sidecars"));
socket.on("message", (data) => { out.messages.push(String(data)); if (out.messages.length === 2) socket.close(); });
socket.on("close", () => done(0));
socket.on("unexpected-response", (request, response) => { out.status = response.statusCode; done(1); });
socket.on("error", (error) => { out.error = String(error); done(1); });
setTimeout(() => { out.error = "timed out"; done(1); }, 15000);
`;

/** Starts the WebSocket server in a Pod's network namespace (as root, the fortio image's user); resolves once it listens. */
async function startWebSocketServer(pod: string, wsModule: string, port: number): Promise<ChildProcess> {
  const child = await spawnInPod(NS, pod, [process.execPath, "-e", WS_SERVER, wsModule, String(port)]);
  return new Promise((resolve, reject) => {
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("listening")) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`WebSocket server exited ${code}: ${stderr}`)));
    child.once("error", reject);
  });
}
