import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import { request as tlsRequest } from "node:https";
import { connect, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { IContainer, IPod } from "kubernetes-models/v1";
import { compile } from "../../../../src/compile/compile.js";
import type { ClusterState } from "../../../../src/compile/state.js";
import { renderBootstrap } from "../../../../src/inject/bootstrap.js";
import { PROXY_CONTAINER, sidecarPatch } from "../../../../src/inject/sidecar.js";
import { containerEnvironment } from "../../../../src/localnode/pod-inputs.js";
import { envoyBinary } from "../../../../src/localnode/tools.js";
import { createSelfSignedCa, type KeyPair } from "../../../../src/pki/issue.js";
import {
  outboundListenerName,
  VIRTUAL_INBOUND,
  VIRTUAL_OUTBOUND,
} from "../../../../src/xds/translate/names.js";
import { issueWorkloadCertificate, workloadSecrets } from "../../../support/workload-secrets.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { OtlpReceiver, type ReceivedSpan } from "../../../support/otlp-receiver.js";
import { sidecarStaticResources, withStaticResources } from "../../../support/static-bootstrap.js";

/**
 * Two real Envoy sidecars configured by compile and translate from a Mesh
 * with telemetry on: the client's (client-0) outbound listeners and the
 * server's (web-0, Pod IP 127.0.0.2) inbound side, with mTLS between them
 * (PERMISSIVE, the default), an HTTP app and a TCP echo behind the server.
 * After known traffic, the metrics on each sidecar's Prometheus port, the
 * access-log lines on its stdout and the spans a real OTLP receiver gets are
 * checked exactly. Without iptables, the outbound listeners bind a loopback
 * port of their own and the inbound listener one per served port (its
 * filter chains match the destination port, which is then the bound one).
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const TD = "cluster.local";
const CLIENT = `spiffe://${TD}/ns/shop/sa/client`;
const SERVER = `spiffe://${TD}/ns/shop/sa/web`;
/** A mesh identity of another namespace, for a client that talks mTLS to the server without a sidecar. */
const INTRUDER = `spiffe://${TD}/ns/elsewhere/sa/intruder`;

async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function clusterState(httpPort: number, tcpPort: number, otlp: string): ClusterState {
  const pod = (name: string, sa: string, ip: string) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "shop",
      labels: { app: name.replace(/-0$/, "") },
      annotations: { "sidecar.skiff.dev/status": "injected" },
    },
    spec: { serviceAccountName: sa, containers: [{ name: "app", image: "app" }] },
    status: { phase: "Running", podIP: ip },
  });
  const service = (name: string, ip: string, portName: string, port: number) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "shop" },
    spec: { clusterIP: ip, selector: { app: "web" }, ports: [{ name: portName, port, targetPort: port }] },
  });
  const slice = (name: string, portName: string, port: number) => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${name}-1`, namespace: "shop", labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    ports: [{ name: portName, port, protocol: "TCP" }],
    endpoints: [
      {
        addresses: ["127.0.0.2"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: "web-0", namespace: "shop" },
      },
    ],
  });
  return {
    mesh: {
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: {
        injection: { namespaceSelector: { matchLabels: { "skiff.dev/injection": "enabled" } } },
        observability: {
          accessLog: { enabled: true, format: "JSON" },
          tracing: { otlpEndpoint: otlp, samplingPercent: 100 },
        },
      },
    } as ClusterState["mesh"],
    namespaces: [
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "shop", labels: { "skiff.dev/injection": "enabled" } },
      },
    ],
    services: [
      service("web", "10.96.0.50", "http", httpPort),
      service("db", "10.96.0.51", "tcp-db", tcpPort),
    ],
    endpointSlices: [slice("web", "http", httpPort), slice("db", "tcp-db", tcpPort)],
    pods: [pod("web-0", "web", "127.0.0.2"), pod("client-0", "client", "127.0.0.3")],
    trafficPolicies: [],
    peerAuthentications: [],
    authorizationPolicies: [],
  } as unknown as ClusterState;
}

interface Sidecar {
  readonly child: ChildProcess;
  readonly prometheusPort: number;
  readonly stdout: string[];
}

/**
 * The proxy container's environment as the injector writes it and a kubelet
 * expands it (downward API, then `$(VAR)`): POD_NAME and POD_NAMESPACE for the
 * metrics' peer labels, OTEL_RESOURCE_ATTRIBUTES for the spans' service name.
 */
function injectedEnvironment(name: string, podIP: string): Record<string, string> {
  const pod: IPod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "shop" },
    spec: { containers: [{ name: "app", image: "app" }] },
  } as IPod;
  const proxy = sidecarPatch(pod, {
    proxyImage: "envoy",
    proxyArgs: [],
    xdsAddress: "skiff-xds.skiff-system.svc:15010",
    initImage: "skiff",
    initArgs: [],
    bootstrapConfigMap: "bootstrap",
    trustBundleConfigMap: "trust",
    prometheusPort: 15090,
  })
    .map((op) => op.value as IContainer)
    .find((c) => c.name === PROXY_CONTAINER)!;
  const env = containerEnvironment(
    pod,
    proxy,
    { configMaps: new Map(), secrets: new Map() },
    { podIP, hostIP: "127.0.0.1", nodeName: "local" },
    new Map(),
  );
  return Object.fromEntries(env);
}

async function startSidecar(
  dir: string,
  pod: string,
  podIP: string,
  staticResources: Json,
  otlp: string,
): Promise<Sidecar> {
  const [adminPort, prometheusPort, healthPort] = [await freePort(), await freePort(), await freePort()];
  const bootstrap = JSON.parse(
    renderBootstrap({
      xds: { host: "127.0.0.1", port: 1 },
      adminPort,
      prometheusPort,
      healthPort,
      otlpEndpoint: otlp,
    }),
  ) as Json;
  // Static resources stand in for xDS: without an ADS server the first CDS would never come.
  delete bootstrap.dynamic_resources;
  // Histograms reach /stats/prometheus at each flush; a short one only shortens the wait below.
  bootstrap.stats_flush_interval = "0.2s";
  const config = join(dir, `${pod}.json`);
  writeFileSync(config, JSON.stringify(withStaticResources(bootstrap, staticResources as never)));
  const child = spawn(
    await envoyBinary(),
    ["-c", config, "--concurrency", "1", "--use-dynamic-base-id", "--log-level", "warning"],
    {
      env: { ...process.env, ...injectedEnvironment(pod, podIP) },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const stdout: string[] = [];
  let rest = "";
  child.stdout!.on("data", (d: Buffer) => {
    const lines = (rest + d.toString()).split("\n");
    rest = lines.pop()!;
    stdout.push(...lines);
  });
  await until(async () => (await get(healthPort, "/healthz/ready")).status === 200, `${pod} ready`);
  return { child, prometheusPort, stdout };
}

function get(
  port: number,
  path: string,
  host = "127.0.0.1",
  headers: Record<string, string> = {},
  address = "127.0.0.1",
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: address, port, path, headers: { ...headers, host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    });
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.end();
  });
}

/** Polls a condition: the test waits for events, never for a fixed time. */
async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The envoy_skiff_* series of a Prometheus text page, as "name{labels} value" with labels sorted. */
async function skiffSeries(port: number, name: string): Promise<Map<string, number>> {
  const { body } = await get(port, "/stats/prometheus");
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    const match = /^(envoy_skiff_[a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels = [...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)]
      .map(([, k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
    out.set(labels, Number(match[3]));
  }
  return out;
}

/** The metadata exchange's headers, as a caller that is not a sidecar would forge them. */
const FORGED = { "x-skiff-peer-workload": "forged", "x-skiff-peer-service": "web.shop.svc.cluster.local" };

/** A request straight to the server's sidecar over mTLS, as a proxyless mesh client sends one. */
function meshGet(
  port: number,
  path: string,
  certificate: KeyPair,
  ca: string,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = tlsRequest(
      {
        host: "127.0.0.2",
        port,
        path,
        headers,
        cert: certificate.certPem,
        key: certificate.keyPem,
        ca,
        // A workload certificate names a SPIFFE ID, no DNS name.
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode!));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const labels = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(",");

describe("sidecar telemetry on real Envoys", function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), "skiff-telemetry-"));
  let receiver: OtlpReceiver;
  let client: Sidecar;
  let server: Sidecar;
  let app: Server;
  /** The request headers the application saw, by path. */
  const seen = new Map<string, IncomingHttpHeaders[]>();
  let clientCertificate: KeyPair;
  let intruder: KeyPair;
  let caPem: string;
  let echo: ReturnType<typeof createServer>;
  let clientHttp: number;
  let clientTcp: number;
  let httpPort: number;
  let tcpPort: number;

  before(async () => {
    receiver = await OtlpReceiver.start();
    [httpPort, tcpPort] = [await freePort(), await freePort()];
    app = createHttpServer((req, res) => {
      seen.set(req.url!, [...(seen.get(req.url!) ?? []), req.headers]);
      res.statusCode = req.url === "/ok" ? 200 : 404;
      res.end(req.url === "/ok" ? "ok" : "missing");
    });
    await new Promise<void>((resolve) => app.listen(httpPort, "127.0.0.1", resolve));
    echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(tcpPort, "127.0.0.1", resolve));

    const { model } = compile(clusterState(httpPort, tcpPort, receiver.address));
    const resources = translate(model);
    const ca = await createSelfSignedCa(
      "CN=telemetry test root",
      new Date(Date.now() - 60_000),
      new Date(Date.now() + 86_400_000),
    );
    const certificate = (serviceAccount: string) =>
      issueWorkloadCertificate(ca, {
        trustDomain: TD,
        namespace: "shop",
        serviceAccount,
        validityMs: 3_600_000,
        now: new Date(),
      });
    clientCertificate = await certificate("client");
    intruder = await issueWorkloadCertificate(ca, {
      trustDomain: TD,
      namespace: "elsewhere",
      serviceAccount: "intruder",
      validityMs: 3_600_000,
      now: new Date(),
    });
    caPem = ca.pair.certPem;
    const secrets = async (serviceAccount: string) =>
      workloadSecrets(
        serviceAccount === "client" ? clientCertificate : await certificate(serviceAccount),
        ca.pair.certPem,
      );

    // The client: its outbound listeners, each on a loopback port of its own.
    [clientHttp, clientTcp] = [await freePort(), await freePort()];
    const ports = new Map([
      [outboundListenerName("10.96.0.50", httpPort), clientHttp],
      [outboundListenerName("10.96.0.51", tcpPort), clientTcp],
    ]);
    const clientView = sidecarStaticResources(resources, [], await secrets("client"));
    clientView.listeners = clientView.listeners
      .filter((l) => ports.has(l.name))
      .map(({ bind_to_port: _, ...l }) => ({
        ...l,
        address: { socket_address: { address: "127.0.0.1", port_value: ports.get(l.name) } },
      }));
    client = await startSidecar(dir, "client-0", "127.0.0.3", clientView, receiver.address);

    // The server: its inbound listener bound to the Pod IP once per served port.
    const serverView = sidecarStaticResources(resources, ["shop/web-0"], await secrets("web"));
    const inbound = serverView.listeners.find((l) => l.name === `${VIRTUAL_INBOUND}~0`)!;
    serverView.listeners = [httpPort, tcpPort].map((port) => ({
      ...inbound,
      name: `inbound-${port}`,
      address: { socket_address: { address: "127.0.0.2", port_value: port } },
    }));
    assert.ok(!serverView.listeners.some((l) => l.name === VIRTUAL_OUTBOUND));
    server = await startSidecar(dir, "web-0", "127.0.0.2", serverView, receiver.address);
  });

  after(() => {
    client?.child.kill("SIGTERM");
    server?.child.kill("SIGTERM");
    receiver?.stop();
    app?.close();
    echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts known HTTP and TCP traffic exactly on both sidecars, logs each request and joins the two hops' spans", async () => {
    const host = `web.shop.svc.cluster.local:${httpPort}`;
    const statuses: number[] = [];
    for (const path of ["/ok", "/ok", "/ok", "/missing", "/missing"])
      statuses.push((await get(clientHttp, path, host, path === "/missing" ? FORGED : {})).status);
    assert.deepEqual(statuses, [200, 200, 200, 404, 404]);
    for (let i = 0; i < 2; i++) {
      const socket = connect(clientTcp, "127.0.0.1");
      socket.write("hello");
      let got = "";
      for await (const chunk of socket) {
        got += (chunk as Buffer).toString();
        if (got.length >= 5) break;
      }
      assert.equal(got, "hello");
      socket.destroy();
    }

    const outbound = {
      reporter: "source",
      source_workload: "client-0",
      source_workload_namespace: "shop",
      source_principal: CLIENT,
      destination_workload: "web-0",
      destination_workload_namespace: "shop",
      destination_principal: SERVER,
    };
    // The server's sidecar learns the caller and the Service from the client's (the metadata exchange),
    // even for the requests whose application sent the exchange's headers itself: its sidecar overwrote them.
    const inbound = {
      reporter: "destination",
      source_workload: "client-0",
      source_workload_namespace: "shop",
      source_principal: CLIENT,
      destination_workload: "web-0",
      destination_workload_namespace: "shop",
      destination_principal: SERVER,
      destination_service: "web.shop.svc.cluster.local",
    };
    const http = (side: Record<string, string>, protocol: string, code: string) =>
      labels({ ...side, request_protocol: protocol, response_code: code, response_flags: "-" });
    const expectations: [Sidecar, Record<string, string>, string][] = [
      [client, { ...outbound, destination_service: "web.shop.svc.cluster.local" }, "HTTP/1.1"],
      [server, inbound, "HTTP/1.1"],
    ];
    for (const [sidecar, side, protocol] of expectations) {
      const expected = new Map([
        [http(side, protocol, "200"), 3],
        [http(side, protocol, "404"), 2],
      ]);
      // Histograms show at the next stats flush: wait until they have every request.
      await until(async () => {
        const counts = await skiffSeries(
          sidecar.prometheusPort,
          "envoy_skiff_request_duration_milliseconds_count",
        );
        return [...counts.values()].reduce((a, b) => a + b, 0) === 5;
      }, "the duration histograms");
      assert.deepEqual(await skiffSeries(sidecar.prometheusPort, "envoy_skiff_requests_total"), expected);
      assert.deepEqual(
        await skiffSeries(sidecar.prometheusPort, "envoy_skiff_request_duration_milliseconds_count"),
        expected,
      );
      assert.deepEqual(
        await skiffSeries(sidecar.prometheusPort, "envoy_skiff_response_bytes_count"),
        expected,
      );
      // The app answers "ok" (2 bytes) three times and "missing" (7 bytes) twice. Envoy's histograms
      // keep log-linear bins, not the values, so a sum is exact only to the bins' width (under 5% here).
      const sums = await skiffSeries(sidecar.prometheusPort, "envoy_skiff_response_bytes_sum");
      for (const [code, bytes] of [
        ["200", 6],
        ["404", 14],
      ] as const) {
        const sum = sums.get(http(side, protocol, code));
        assert.ok(
          sum !== undefined && Math.abs(sum - bytes) < bytes * 0.05,
          `${code}: ${sum} bytes, not ${bytes}`,
        );
      }
    }
    // TCP has no metadata exchange: the server knows its caller by its principal alone.
    const tcpSides: [Sidecar, Record<string, string>][] = [
      [client, { ...outbound, destination_service: "db.shop.svc.cluster.local" }],
      [
        server,
        {
          ...inbound,
          source_workload: "unknown",
          source_workload_namespace: "unknown",
          destination_service: "unknown",
        },
      ],
    ];
    for (const [sidecar, side] of tcpSides) {
      await until(
        async () =>
          (await skiffSeries(sidecar.prometheusPort, "envoy_skiff_tcp_connections_closed_total")).get(
            labels(side),
          ) === 2,
        "the TCP connections' close",
      );
      // Known gap: the server's TCP proxy connects to the app while the client's TLS handshake may
      // still run, so its "opened" log can come before the peer's certificate is known: only
      // the number of connections is checked there.
      const opened = await skiffSeries(sidecar.prometheusPort, "envoy_skiff_tcp_connections_opened_total");
      if (sidecar === server)
        assert.equal(
          [...opened.values()].reduce((a, b) => a + b, 0),
          2,
        );
      else assert.deepEqual(opened, new Map([[labels(side), 2]]));
      for (const [name, value] of [
        ["envoy_skiff_tcp_connections_closed_total", 2],
        ["envoy_skiff_tcp_received_bytes_total", 10],
        ["envoy_skiff_tcp_sent_bytes_total", 10],
      ] as const)
        assert.deepEqual(
          await skiffSeries(sidecar.prometheusPort, name),
          new Map([[labels(side), value]]),
          name,
        );
    }

    // One JSON access-log line per request and per connection, on each sidecar.
    const logs = (sidecar: Sidecar) =>
      sidecar.stdout.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Json);
    await until(() => logs(client).length === 7 && logs(server).length === 7, "the access-log lines");
    const served = logs(server).filter((l) => l.method === "GET");
    assert.deepEqual(
      served.map((l) => [l.direction, l.path, l.response_code, l.downstream_peer_principal]),
      ["/ok", "/ok", "/ok", "/missing", "/missing"].map((p) => [
        "inbound",
        p,
        p === "/ok" ? 200 : 404,
        CLIENT,
      ]),
    );
    const sent = logs(client).filter((l) => l.method === "GET");
    assert.deepEqual(
      sent.map((l) => [l.direction, l.upstream_peer_principal, l.upstream_cluster]),
      Array(5).fill(["outbound", SERVER, `outbound|${httpPort}||web.shop.svc.cluster.local`]),
    );
    assert.equal(logs(client).filter((l) => l.connection_termination_details !== undefined).length, 2);
    // A line names the same peers as its series: on both sides, every HTTP line names both workloads
    // and the Service; the server's TCP lines know the caller by its principal alone.
    const peerFields = (l: Json) =>
      [
        l.source_workload,
        l.source_workload_namespace,
        l.destination_workload,
        l.destination_workload_namespace,
        l.destination_service,
      ].join(" ");
    const known = "client-0 shop web-0 shop web.shop.svc.cluster.local";
    assert.deepEqual([...new Set([...served, ...sent].map(peerFields))], [known]);
    assert.deepEqual(
      [
        ...new Set(
          logs(server)
            .filter((l) => l.method === undefined)
            .map(peerFields),
        ),
      ],
      ["unknown unknown web-0 shop unknown"],
    );

    // Every request is one trace of two spans: the server's sidecar's is the child of the client's.
    await until(() => receiver.spans.length >= 10, "10 spans");
    const traces = new Map<string, ReceivedSpan[]>();
    for (const s of receiver.spans) traces.set(s.traceId, [...(traces.get(s.traceId) ?? []), s]);
    assert.equal(traces.size, 5);
    for (const spans of traces.values()) {
      const parent = spans.find((s) => s.service === "client-0.shop");
      const child = spans.find((s) => s.service === "web-0.shop");
      assert.ok(parent && child && spans.length === 2, JSON.stringify(spans));
      assert.equal(parent.kind, "SPAN_KIND_CLIENT");
      assert.equal(child.kind, "SPAN_KIND_SERVER");
      assert.equal(child.parentSpanId, parent.spanId);
    }
  });

  it("believes an announcement only from a mesh certificate, takes the namespace from it, and never shows the announcement to the application", async () => {
    const served = (side: Record<string, string>) =>
      labels({
        reporter: "destination",
        destination_workload: "web-0",
        destination_workload_namespace: "shop",
        destination_principal: SERVER,
        request_protocol: "HTTP/1.1",
        response_code: "404",
        response_flags: "-",
        ...side,
      });
    // A plaintext caller with no sidecar (PERMISSIVE lets it in) forges a mesh client's announcement.
    assert.equal((await get(httpPort, "/plaintext", "web", FORGED, "127.0.0.2")).status, 404);
    // A mesh client of another namespace that writes its own headers (as a proxyless one does): its
    // workload is its word (as in Istio), its namespace its certificate's, and a Service that does not
    // reach the port is not believed.
    for (const [path, service] of [
      ["/announced", "web.shop.svc.cluster.local"],
      ["/other-service", "db.shop.svc.cluster.local"],
    ] as const)
      assert.equal(
        await meshGet(httpPort, path, intruder, caPem, { ...FORGED, "x-skiff-peer-service": service }),
        404,
      );
    const claimed = {
      source_principal: INTRUDER,
      source_workload: "forged",
      source_workload_namespace: "elsewhere",
    };
    const expected = new Map([
      [
        served({
          // Plaintext: neither side has a certificate on this connection.
          source_principal: "",
          destination_principal: "",
          source_workload: "unknown",
          source_workload_namespace: "unknown",
          destination_service: "unknown",
        }),
        1,
      ],
      [served({ ...claimed, destination_service: "web.shop.svc.cluster.local" }), 1],
      [served({ ...claimed, destination_service: "unknown" }), 1],
    ]);
    const requests = await skiffSeries(server.prometheusPort, "envoy_skiff_requests_total");
    const forged = new Map([...requests].filter(([key]) => !key.includes("source_principal=" + CLIENT)));
    assert.deepEqual(forged, expected);

    // Every request of both tests reached the application, none with the exchange's headers.
    assert.deepEqual([...seen.keys()].sort(), [
      "/announced",
      "/missing",
      "/ok",
      "/other-service",
      "/plaintext",
    ]);
    const leaked = [...seen.values()]
      .flat()
      .flatMap((h) => Object.keys(h).filter((k) => k.startsWith("x-skiff-")));
    assert.deepEqual(leaked, []);
  });
});
