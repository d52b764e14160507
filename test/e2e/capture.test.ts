/**
 * skiff-init's iptables capture on real Pods: an application's connections
 * go through its sidecar even when it dials a ClusterIP or a Pod IP by
 * number, inbound connections reach the application through the server's
 * sidecar whether or not the caller has one, and the exclusion annotations
 * (traffic.skiff.dev/excludeOutboundPorts on a client,
 * traffic.skiff.dev/excludeInboundPorts on a server) take exactly their
 * ports out of Envoy's path while the traffic still flows.
 */
import assert from "node:assert/strict";
import { envoyStats, eventually, statDeltas, waitForHealthyEndpoints } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  curl,
  deleteNamespace,
  fortioDeployment,
  listPods,
  log,
  meshNamespace,
  podOf,
  rest,
  service,
  skipUnlessSupported,
  waitPodsReady,
  type PodObject,
} from "./kit.js";
import { fortioLoad } from "./load.js";

const NS = "e2e-capture";
const host = (name: string) => `${name}.${NS}.svc.cluster.local`;

/** Prints what the sidecars counted: `<pod> <stat> +<n>`, Service hostnames shortened. */
function note(deltas: Record<string, number>): void {
  const counts = Object.entries(deltas).map(
    ([key, delta]) => `${key.replaceAll(`.${NS}.svc.cluster.local`, "")} +${delta}`,
  );
  log(counts.join(", "));
}

/** Who fortio's /debug says sent the request: the peer address the application saw. */
function requestFrom(body: string): string | undefined {
  return / request from \[?([0-9a-f.:]+?)\]?:\d+$/m.exec(body)?.[1];
}

let echo: PodObject;
let direct: PodObject;
let clientIP = "";
const clusterIPs = new Map<string, string>();

const VIRTUAL_OUTBOUND_CX = "listener.0.0.0.0_15001.downstream_cx_total";
const VIRTUAL_INBOUND_CX = "listener.0.0.0.0_15006.downstream_cx_total";
const outboundCluster = (svc: string, port: number) => `outbound|${port}||${host(svc)}`;

describe("iptables capture of a meshed Pod's traffic", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      // fortio's server also runs its TCP echo on 8078.
      fortioDeployment(NS, "echo"),
      fortioDeployment(NS, "direct", {
        annotations: { "traffic.skiff.dev/excludeInboundPorts": "8080" },
      }),
      service(NS, "echo", [
        { name: "http", port: 8080 },
        { name: "tcp-echo", port: 8078 },
      ]),
      service(NS, "direct", [{ name: "http", port: 8080 }]),
      clientPod(NS),
      clientPod(NS, "bypass", { "traffic.skiff.dev/excludeOutboundPorts": "8080" }),
      clientPod(NS, "plain", { "sidecar.skiff.dev/inject": "false" }),
    ]);
    await waitPodsReady(NS, 5);
    echo = await podOf(NS, "app=echo");
    direct = await podOf(NS, "app=direct");
    clientIP = (await podOf(NS, "app=client")).status!.podIP!;
    for (const svc of ["echo", "direct"]) {
      const object = await rest().request<{ spec: { clusterIP: string } }>(
        "GET",
        `/api/v1/namespaces/${NS}/services/${svc}`,
      );
      clusterIPs.set(svc, object.spec.clusterIP);
    }
    // The sidecars may have become ready before the Services reached them.
    for (const pod of ["client", "bypass"])
      await waitForHealthyEndpoints(NS, pod, [
        outboundCluster("echo", 8080),
        outboundCluster("echo", 8078),
        outboundCluster("direct", 8080),
      ]);
    // On the local node, a sidecar-less Pod's first connections to a
    // ClusterIP sometimes fail at once with ENETUNREACH (curl: "connect to
    // 10.0.0.69 port 8080 failed: Network is unreachable", twice in a row,
    // fine 20 ms later). No Envoy is on that path: it is kube-proxy's (the
    // node's namespace has no route for the Service range, so a packet that
    // misses its DNAT is unroutable). Wait until the path works before
    // measuring anything through it.
    await eventually("the Pod without a sidecar to reach the echo Service", async () => {
      const [response] = await curl(NS, "plain", "http://echo:8080/fortio/");
      return response?.status === 200 ? true : undefined;
    });
    const pods = await listPods(NS, "app=plain");
    assert.equal(pods.length, 1);
    const plain = await rest().request<{ spec: { containers: { name: string }[] } }>(
      "GET",
      `/api/v1/namespaces/${NS}/pods/plain`,
    );
    assert.deepEqual(
      plain.spec.containers.map((c) => c.name),
      ["app"],
      "the opted-out Pod has no sidecar",
    );
  });
  after(() => deleteNamespace(NS));

  it("an application dialing a ClusterIP by number goes through its sidecar's listener for that Service", async () => {
    const ip = clusterIPs.get("echo")!;
    let responses: Awaited<ReturnType<typeof curl>> = [];
    let tcp: { RetCodes?: unknown; BytesSent?: number; BytesReceived?: number } = {};
    const { deltas } = await statDeltas(
      NS,
      {
        client: [
          `listener.${ip}_8080.downstream_cx_total`,
          `http.${ip}_8080.downstream_rq_total`,
          `cluster.${outboundCluster("echo", 8080)}.upstream_rq_200`,
          `tcp.${ip}_8078.downstream_cx_total`,
          `cluster.${outboundCluster("echo", 8078)}.upstream_cx_total`,
          "cluster.PassthroughCluster.upstream_cx_total",
        ],
      },
      async () => {
        responses = await curl(NS, "client", `http://${ip}:8080/debug`, { count: 10 });
        tcp = await fortioLoad(NS, "client", ["-qps", "-1", "-n", "10", "-c", "1", `tcp://${ip}:8078`]);
      },
    );
    note(deltas);
    for (const r of responses) {
      assert.equal(r.status, 200, r.body);
      // The client's sidecar answered: Envoy's headers, and a request id the application saw.
      assert.equal(r.headers.server, "envoy");
      assert.ok(r.headers["x-envoy-upstream-service-time"] !== undefined, JSON.stringify(r.headers));
      assert.match(r.body, /^X-Request-Id: /im);
    }
    assert.deepEqual(tcp.RetCodes, { OK: 10 });
    assert.equal(tcp.BytesReceived, tcp.BytesSent);
    const c = (name: string) => deltas[`client: ${name}`]!;
    // The Service's own listener took them (virtualOutbound hands a
    // connection to the listener of its original destination), none fell
    // through to the passthrough cluster. curl reuses its connection.
    assert.ok(c(`listener.${ip}_8080.downstream_cx_total`) >= 1, JSON.stringify(deltas));
    assert.equal(c(`http.${ip}_8080.downstream_rq_total`), 10, JSON.stringify(deltas));
    assert.equal(c(`cluster.${outboundCluster("echo", 8080)}.upstream_rq_200`), 10, JSON.stringify(deltas));
    assert.equal(c(`tcp.${ip}_8078.downstream_cx_total`), 1, JSON.stringify(deltas));
    assert.equal(c(`cluster.${outboundCluster("echo", 8078)}.upstream_cx_total`), 1, JSON.stringify(deltas));
    assert.equal(c("cluster.PassthroughCluster.upstream_cx_total"), 0, JSON.stringify(deltas));
  });

  it("a Pod IP that no Service has is captured too, and passes through to its destination", async () => {
    let responses: Awaited<ReturnType<typeof curl>> = [];
    const { deltas } = await statDeltas(
      NS,
      {
        client: [VIRTUAL_OUTBOUND_CX, "cluster.PassthroughCluster.upstream_cx_total"],
        [echo.metadata.name]: [VIRTUAL_INBOUND_CX, "cluster.inbound|8080||.upstream_rq_200"],
      },
      async () => {
        responses = await curl(NS, "client", `http://${echo.status!.podIP}:8080/debug`, { count: 3 });
      },
    );
    note(deltas);
    for (const r of responses) {
      assert.equal(r.status, 200, r.body);
      // The server's sidecar forwarded it from loopback.
      assert.equal(requestFrom(r.body), "127.0.0.1", r.body);
    }
    assert.deepEqual(
      Object.values(deltas).map((d) => d >= 1),
      [true, true, true, true],
      JSON.stringify(deltas),
    );
  });

  for (const caller of ["client", "plain"])
    it(`inbound connections reach the application through the server's sidecar (caller ${caller === "plain" ? "without" : "with"} a sidecar)`, async () => {
      let responses: Awaited<ReturnType<typeof curl>> = [];
      let tcp: { RetCodes?: unknown } = {};
      const server = echo.metadata.name;
      const { deltas } = await statDeltas(
        NS,
        {
          [server]: [
            VIRTUAL_INBOUND_CX,
            "http.inbound|8080||.downstream_rq_total",
            "cluster.inbound|8080||.upstream_rq_200",
            "tcp.inbound|8078||.downstream_cx_total",
            "cluster.inbound|8078||.upstream_cx_total",
          ],
        },
        async () => {
          responses = await curl(NS, caller, "http://echo:8080/debug", { count: 5 });
          tcp = await fortioLoad(NS, caller, ["-qps", "-1", "-n", "5", "-c", "1", "tcp://echo:8078"]);
        },
      );
      note(deltas);
      for (const r of responses) {
        assert.equal(r.status, 200, r.body);
        // The application's peer is its own sidecar, on loopback; the
        // inbound connection manager added the forwarding headers.
        assert.equal(requestFrom(r.body), "127.0.0.1", r.body);
        assert.match(r.body, /^X-Forwarded-Proto: http$/im);
      }
      assert.deepEqual(tcp.RetCodes, { OK: 5 });
      const s = (name: string) => deltas[`${server}: ${name}`]!;
      // Readiness probes come in through the sidecar as well, hence "at least".
      // (A client sidecar may reuse a pooled HTTP connection, so at least the TCP one.)
      assert.ok(s(VIRTUAL_INBOUND_CX) >= 1, JSON.stringify(deltas));
      assert.ok(s("http.inbound|8080||.downstream_rq_total") >= 5, JSON.stringify(deltas));
      assert.ok(s("cluster.inbound|8080||.upstream_rq_200") >= 5, JSON.stringify(deltas));
      assert.equal(s("tcp.inbound|8078||.downstream_cx_total"), 1, JSON.stringify(deltas));
      assert.equal(s("cluster.inbound|8078||.upstream_cx_total"), 1, JSON.stringify(deltas));
    });

  it("traffic.skiff.dev/excludeOutboundPorts: the client's connections to that port bypass its sidecar, others do not", async () => {
    const ip = clusterIPs.get("echo")!;
    let excluded: Awaited<ReturnType<typeof curl>> = [];
    let tcp: { RetCodes?: unknown } = {};
    const server = echo.metadata.name;
    const { deltas } = await statDeltas(
      NS,
      {
        bypass: [
          `listener.${ip}_8080.downstream_cx_total`,
          `http.${ip}_8080.downstream_rq_total`,
          `cluster.${outboundCluster("echo", 8080)}.upstream_rq_total`,
          VIRTUAL_OUTBOUND_CX,
          "cluster.PassthroughCluster.upstream_cx_total",
          `listener.${ip}_8078.downstream_cx_total`,
          `cluster.${outboundCluster("echo", 8078)}.upstream_cx_total`,
        ],
        [server]: ["cluster.inbound|8080||.upstream_rq_200", "cluster.inbound|8078||.upstream_cx_total"],
      },
      async () => {
        // By name and by ClusterIP: kube-proxy, not Envoy, picks the endpoint.
        excluded = [
          ...(await curl(NS, "bypass", "http://echo:8080/debug", { count: 3 })),
          ...(await curl(NS, "bypass", `http://${ip}:8080/debug`, { count: 3 })),
        ];
        tcp = await fortioLoad(NS, "bypass", ["-qps", "-1", "-n", "5", "-c", "1", "tcp://echo:8078"]);
      },
    );
    note(deltas);
    for (const r of excluded) assert.equal(r.status, 200, r.body);
    assert.deepEqual(tcp.RetCodes, { OK: 5 });
    const b = (name: string) => deltas[`bypass: ${name}`]!;
    // The client's sidecar never saw port 8080: not on the Service's
    // listener, not on its cluster, not passed through...
    for (const name of [
      `listener.${ip}_8080.downstream_cx_total`,
      `http.${ip}_8080.downstream_rq_total`,
      `cluster.${outboundCluster("echo", 8080)}.upstream_rq_total`,
      VIRTUAL_OUTBOUND_CX,
      "cluster.PassthroughCluster.upstream_cx_total",
    ])
      assert.equal(b(name), 0, `${name}: ${JSON.stringify(deltas)}`);
    // ...while it took the TCP connection, on a port that is not excluded.
    assert.equal(b(`listener.${ip}_8078.downstream_cx_total`), 1, JSON.stringify(deltas));
    assert.equal(b(`cluster.${outboundCluster("echo", 8078)}.upstream_cx_total`), 1, JSON.stringify(deltas));
    // The server's side is untouched by the client's annotation: its sidecar still takes both.
    assert.ok(deltas[`${server}: cluster.inbound|8080||.upstream_rq_200`]! >= 6, JSON.stringify(deltas));
    assert.equal(deltas[`${server}: cluster.inbound|8078||.upstream_cx_total`], 1, JSON.stringify(deltas));
  });

  it("traffic.skiff.dev/excludeInboundPorts: connections to that port reach the application without its sidecar", async () => {
    let responses: Awaited<ReturnType<typeof curl>> = [];
    const server = direct.metadata.name;
    const { deltas } = await statDeltas(
      NS,
      {
        client: [`cluster.${outboundCluster("direct", 8080)}.upstream_rq_200`],
        [server]: [
          VIRTUAL_INBOUND_CX,
          "cluster.inbound|8080||.upstream_rq_total",
          "http.inbound|8080||.downstream_rq_total",
        ],
      },
      async () => {
        responses = await curl(NS, "client", "http://direct:8080/debug", { count: 5 });
      },
    );
    note(deltas);
    for (const r of responses) {
      assert.equal(r.status, 200, r.body);
      // The application's peer is the client Pod itself (its sidecar's
      // upstream connection), not the server's sidecar on loopback.
      assert.equal(requestFrom(r.body), clientIP, r.body);
    }
    assert.equal(
      deltas[`client: cluster.${outboundCluster("direct", 8080)}.upstream_rq_200`],
      5,
      JSON.stringify(deltas),
    );
    assert.equal(deltas[`${server}: ${VIRTUAL_INBOUND_CX}`], 0, JSON.stringify(deltas));
    assert.equal(deltas[`${server}: cluster.inbound|8080||.upstream_rq_total`], 0, JSON.stringify(deltas));
    assert.equal(deltas[`${server}: http.inbound|8080||.downstream_rq_total`], 0, JSON.stringify(deltas));
    // Not even the readiness probes, which also target 8080, ever went through it.
    const stats = await envoyStats(NS, server);
    assert.equal(stats.get(VIRTUAL_INBOUND_CX) ?? 0, 0);
  });
});
