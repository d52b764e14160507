import assert from "node:assert/strict";
import { readUntil, waitForEndpointCounts } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  curlEach,
  deleteNamespace,
  exec,
  fortioDeployment,
  sidecarAccessLog,
  meshNamespace,
  podByPrefix,
  service,
  skipUnlessSupported,
  waitPodsReady,
} from "./kit.js";

const NS = "e2e-telemetry";
const WEB = `web.${NS}.svc.cluster.local`;
/** Every Pod here runs as the default ServiceAccount. */
const PRINCIPAL = `spiffe://cluster.local/ns/${NS}/sa/default`;
/** The metadata exchange's headers (see src/xds/translate/peer-exchange.ts), as an application would forge them. */
const FORGED = ["-H", "x-skiff-peer-workload: forged", "-H", "x-skiff-peer-service: forged.example.com"];
/** A header of no meaning, that the application must see: the echo shows request headers at all. */
const CONTROL = ["-H", "x-e2e-control: kept"];

/**
 * Sidecar telemetry on the local node, read as a user reads it: a scraper
 * Pod outside the mesh (as Prometheus is) fetches each sidecar's
 * /stats/prometheus on its Pod IP, port 15090, and the access log is the
 * proxy container's log. Known traffic is sent with response codes the
 * kubelet's readiness probes (fortio answers them 200) never produce, so
 * the server's counts of those codes are exact too.
 */
type Series = Map<string, number>;

/** The `name` series of a sidecar's Prometheus page, as "label=value,..." (sorted) to value. */
async function scrape(podIP: string, name: string): Promise<Series> {
  const { code, stdout, stderr } = await exec(
    NS,
    "scraper",
    ["curl", "-sSf", "-m", "10", `http://${podIP}:15090/stats/prometheus`],
    { timeoutMs: 20_000 },
  );
  assert.equal(code, 0, `scraping ${podIP}:15090: ${stderr}`);
  const series: Series = new Map();
  for (const line of stdout.split("\n")) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const labels = [...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`);
    series.set(labels.sort().join(","), Number(match[3]));
  }
  return series;
}

const labels = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(",");

describe("telemetry from Envoy sidecars on the local node", function () {
  let web: string;
  let webIP: string;
  let clientIP: string;

  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      fortioDeployment(NS, "web"),
      service(NS, "web", [{ name: "http", port: 8080 }]),
      clientPod(NS),
      clientPod(NS, "scraper", { "sidecar.skiff.dev/inject": "false" }),
    ]);
    await waitPodsReady(NS, 3);
    await waitForEndpointCounts(NS, "client", { [`outbound|8080||${WEB}`]: 1 });
    const pod = await podByPrefix(NS, "web-");
    [web, webIP] = [pod.metadata.name, pod.status!.podIP!];
    clientIP = (await podByPrefix(NS, "client")).status!.podIP!;
  });
  after(() => deleteNamespace(NS));

  it("counts known requests exactly on the client's and the server's sidecar, and logs each one on both", async () => {
    // fortio's /echo answers with the status its query asks for.
    const sent = [...Array<number>(5).fill(418), ...Array<number>(3).fill(202)];
    // The 202s carry the exchange's headers as if the application forged them: its sidecar overwrites them.
    const answers = await curlEach(
      NS,
      "client",
      sent.map((status) => ({
        url: `http://web:8080/echo?status=${status}`,
        ...(status === 202 ? { args: FORGED } : {}),
      })),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      sent,
    );

    // Sidecars talk mTLS (PERMISSIVE, the default), each with its ServiceAccount's certificate.
    const outbound = {
      reporter: "source",
      source_workload: "client",
      source_workload_namespace: NS,
      source_principal: PRINCIPAL,
      destination_workload: web,
      destination_workload_namespace: NS,
      destination_principal: PRINCIPAL,
      destination_service: WEB,
    };
    // The server's sidecar learns who called and which Service from the client's (the metadata exchange).
    const inbound = { ...outbound, reporter: "destination" };
    const expected = (side: Record<string, string>) =>
      new Map(
        [
          ["418", 5],
          ["202", 3],
        ].map(([code, count]) => [
          labels({ ...side, request_protocol: "HTTP/1.1", response_code: String(code), response_flags: "-" }),
          Number(count),
        ]),
      );
    const known = (series: Series) =>
      new Map([...series].filter(([key]) => !key.includes("response_code=200")));

    // The client's sidecar sends nothing else; the server's also counts the kubelet's probes (200).
    for (const [ip, side, only] of [
      [clientIP, outbound, (s: Series) => s],
      [webIP, inbound, known],
    ] as const) {
      assert.deepEqual(only(await scrape(ip, "envoy_skiff_requests_total")), expected(side), side.reporter);
      // Histograms reach the page at Envoy's stats flush (5 s): read until they hold every request.
      const durations = await readUntil(
        `${side.reporter} duration histograms`,
        async () => only(await scrape(ip, "envoy_skiff_request_duration_milliseconds_count")),
        (series) => [...series.values()].reduce((a, b) => a + b, 0) === 8,
        { timeoutMs: 30_000 },
      );
      assert.deepEqual(durations, expected(side));
    }

    // One JSON access-log line per request on each sidecar (the lines reach the file as Envoy flushes them).
    const logged = async (pod: string, direction: string) =>
      readUntil(
        `${pod}'s access log`,
        async () =>
          sidecarAccessLog(NS, pod).filter((l) => l.direction === direction && l.path !== "/fortio/"),
        (lines) => lines.length >= sent.length,
        { timeoutMs: 30_000, show: (lines) => lines.length },
      );
    for (const [pod, direction] of [
      ["client", "outbound"],
      [web, "inbound"],
    ] as const) {
      const lines = await logged(pod, direction);
      assert.deepEqual(
        lines.map((l) => [l.method, l.path, l.response_code, l.authority]),
        sent.map((status) => ["GET", `/echo?status=${status}`, status, "web:8080"]),
        `${pod}: ${JSON.stringify(lines.at(-1))}`,
      );
      if (direction === "outbound")
        assert.deepEqual(new Set(lines.map((l) => l.upstream_cluster)), new Set([`outbound|8080||${WEB}`]));
      // Each line names the same peers as the series, on the server's side too.
      const peers = (l: Record<string, unknown>) =>
        [l.source_workload, l.source_workload_namespace, l.destination_workload, l.destination_service].join(
          " ",
        );
      assert.deepEqual(new Set(lines.map(peers)), new Set([`client ${NS} ${web} ${WEB}`]), pod);
    }
  });

  it("keeps what a caller outside the mesh forges out of the server's metrics and away from the application", async () => {
    // The scraper has no sidecar: its requests reach web's sidecar in plaintext (PERMISSIVE takes them).
    const forged = await curlEach(NS, "scraper", [
      ...Array.from({ length: 4 }, () => ({ url: "http://web:8080/echo?status=203", args: FORGED })),
      { url: "http://web:8080/debug", args: [...FORGED, ...CONTROL] },
    ]);
    assert.deepEqual(
      forged.map((a) => a.status),
      [203, 203, 203, 203, 200],
    );
    // A mesh client's request, whose application forged the headers too.
    const [meshed] = await curlEach(NS, "client", [
      { url: "http://web:8080/debug", args: [...FORGED, ...CONTROL] },
    ]);
    assert.equal(meshed!.status, 200);
    // fortio's /debug echoes the request's headers: the application saw the control header and none
    // of the exchange's.
    for (const answer of [forged.at(-1)!, meshed!]) {
      assert.match(answer.body, /x-e2e-control/i, answer.body);
      assert.doesNotMatch(answer.body, /x-skiff-/i, answer.body);
    }

    const series = await scrape(webIP, "envoy_skiff_requests_total");
    assert.deepEqual(
      new Map([...series].filter(([key]) => key.includes("response_code=203"))),
      new Map([
        [
          labels({
            reporter: "destination",
            source_workload: "unknown",
            source_workload_namespace: "unknown",
            source_principal: "",
            destination_workload: web,
            destination_workload_namespace: NS,
            destination_principal: "",
            destination_service: "unknown",
            request_protocol: "HTTP/1.1",
            response_code: "203",
            response_flags: "-",
          }),
          4,
        ],
      ]),
    );
    assert.deepEqual(
      [...series.keys()].filter((key) => /forged/.test(key)),
      [],
    );
  });
});
