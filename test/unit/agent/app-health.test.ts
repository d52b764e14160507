import assert from "node:assert/strict";
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { pino } from "pino";
import {
  parseAppProbers,
  startAppHealthServer,
  type AppHealthServer,
} from "../../../src/agent/app-health.js";
import { probeApp } from "../../../src/agent/app-probe.js";
import { createRootCa } from "../../../src/pki/root.js";

const logger = pino({ level: "silent" });

/** Listens on an ephemeral loopback port and returns it. */
async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: one the kernel just gave and took back. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the agent's application probes", () => {
  const seen: IncomingHttpHeaders[] = [];
  // An application: /ok 200, /moved 302, /fail 503, /hang never answers.
  const app = createHttpServer((req, res) => {
    seen.push(req.headers);
    if (req.url === "/hang") return;
    const code = { "/ok": 200, "/moved": 302, "/fail": 503 }[req.url ?? ""] ?? 404;
    res.writeHead(code, code === 302 ? { location: "http://elsewhere.example/" } : {}).end();
  });
  let appPort = 0;
  let https: Server | undefined;
  let httpsPort = 0;
  let tcp: ReturnType<typeof createTcpServer> | undefined;
  let tcpPort = 0;

  before(async () => {
    appPort = await listen(app);
    // A self-signed certificate, which the prober must not verify (the kubelet does not).
    const ca = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
    https = createHttpsServer({ cert: ca.certPem, key: ca.keyPem }, (_req, res) => res.writeHead(204).end());
    httpsPort = await listen(https);
    tcp = createTcpServer((socket) => socket.end());
    tcpPort = await listen(tcp);
  });
  after(() => {
    app.closeAllConnections();
    app.close();
    https?.close();
    tcp?.close();
  });

  const get = (path: string, port = appPort, extra: object = {}) =>
    probeApp({ httpGet: { path, port, scheme: "HTTP", ...extra }, timeoutSeconds: 1 });

  it("passes on 2xx and 3xx (redirects not followed) and fails on other codes", async () => {
    assert.equal((await get("/ok")).ok, true);
    assert.equal((await get("/moved")).ok, true);
    const failed = await get("/fail");
    assert.deepEqual(failed, { ok: false, detail: `GET http://127.0.0.1:${appPort}/fail: 503` });
  });

  it("sends the kubelet's headers, overridden by the probe's own", async () => {
    seen.length = 0;
    await get("/ok", appPort, {
      httpHeaders: [
        { name: "User-Agent", value: "mine" },
        { name: "X-Probe", value: "1" },
      ],
    });
    assert.equal(seen.length, 1);
    assert.deepEqual([seen[0]!["user-agent"], seen[0]!["x-probe"], seen[0]!.accept], ["mine", "1", "*/*"]);
  });

  it("fails a probe that gets no answer within its timeout, and one refused", async () => {
    const hung = await get("/hang");
    assert.equal(hung.ok, false);
    assert.match(hung.detail, /no answer within 1000 ms/);
    const port = await closedPort();
    const refused = await get("/ok", port);
    assert.equal(refused.ok, false);
    assert.match(refused.detail, /ECONNREFUSED/);
  });

  it("probes HTTPS without verifying the certificate", async () => {
    const result = await probeApp({
      httpGet: { path: "/", port: httpsPort, scheme: "HTTPS" },
      timeoutSeconds: 1,
    });
    assert.deepEqual(result, { ok: true, detail: `GET https://127.0.0.1:${httpsPort}/: 204` });
  });

  it("passes a TCP probe when the port accepts, fails it when refused", async () => {
    assert.equal((await probeApp({ tcpSocket: { port: tcpPort }, timeoutSeconds: 1 })).ok, true);
    const port = await closedPort();
    const refused = await probeApp({ tcpSocket: { port }, timeoutSeconds: 1 });
    assert.equal(refused.ok, false);
    assert.match(refused.detail, new RegExp(`dial tcp 127.0.0.1:${port}: .*ECONNREFUSED`));
  });

  describe("the health server", () => {
    let server: AppHealthServer | undefined;
    before(async () => {
      const closed = await closedPort();
      server = await startAppHealthServer({
        probers: {
          "/app-health/web/readyz": {
            httpGet: { path: "/ok", port: appPort, scheme: "HTTP" },
            timeoutSeconds: 1,
          },
          "/app-health/web/livez": {
            httpGet: { path: "/fail", port: appPort, scheme: "HTTP" },
            timeoutSeconds: 1,
          },
          "/app-health/db/readyz": { tcpSocket: { port: tcpPort }, timeoutSeconds: 1 },
          "/app-health/db/livez": { tcpSocket: { port: closed }, timeoutSeconds: 1 },
        },
        logger,
        port: 0,
        host: "127.0.0.1",
      });
    });
    after(() => server?.stop());

    const status = async (path: string, method = "GET") =>
      (await fetch(`http://127.0.0.1:${server!.port}${path}`, { method })).status;

    it("answers 200 for a probe that passed and 500 for one that failed, HTTP and TCP", async () => {
      assert.deepEqual(
        [
          await status("/app-health/web/readyz"),
          await status("/app-health/web/livez"),
          await status("/app-health/db/readyz?from=kubelet"),
          await status("/app-health/db/livez"),
        ],
        [200, 500, 200, 500],
      );
    });

    it("answers 404 for paths it has no probe for, and 405 for methods the kubelet does not use", async () => {
      assert.equal(await status("/app-health/other/readyz"), 404);
      assert.equal(await status("/constructor"), 404);
      assert.equal(await status("/app-health/web/readyz", "POST"), 405);
    });
  });

  describe("SKIFF_APP_PROBERS", () => {
    it("is empty when unset", () => {
      assert.deepEqual(parseAppProbers(undefined), {});
    });

    it("is refused, the variable named, when it is not what the injector writes", () => {
      assert.throws(() => parseAppProbers("{"), /^Error: SKIFF_APP_PROBERS is not JSON/);
      assert.throws(() => parseAppProbers("[]"), /must be an object of probes by path/);
      assert.throws(
        () => parseAppProbers(JSON.stringify({ "/healthz": { tcpSocket: { port: 1 }, timeoutSeconds: 1 } })),
        /"\/healthz" is not \/app-health\/<container>\/<readyz\|livez\|startupz>/,
      );
      for (const probe of [
        { tcpSocket: { port: 70000 }, timeoutSeconds: 1 },
        { tcpSocket: { port: 80 } },
        { httpGet: { path: "/", port: 80, scheme: "FTP" }, timeoutSeconds: 1 },
        { httpGet: { path: "/", port: 80, scheme: "HTTP", httpHeaders: [{ name: "a" }] }, timeoutSeconds: 1 },
        { exec: { command: ["true"] }, timeoutSeconds: 1 },
      ])
        assert.throws(
          () => parseAppProbers(JSON.stringify({ "/app-health/web/readyz": probe })),
          /the probe at \/app-health\/web\/readyz is not an httpGet or tcpSocket probe/,
          JSON.stringify(probe),
        );
    });
  });
});
