import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { apiPath, RestClient } from "../../../src/k8s/rest.js";
import { createSelfSignedCa } from "../../../src/pki/issue.js";
import { issueServingCertificate } from "../../../src/pki/serving.js";

describe("API paths", () => {
  it("encode each value as one segment", () => {
    assert.equal(
      apiPath`/api/v1/namespaces/${"a/b"}/configmaps/${"x?y#z%w"}`,
      "/api/v1/namespaces/a%2Fb/configmaps/x%3Fy%23z%25w",
    );
    assert.equal(
      apiPath`/api/v1/namespaces/${"default"}/pods/${"web-0"}`,
      "/api/v1/namespaces/default/pods/web-0",
    );
    assert.equal(apiPath`/api/v1/namespaces/${"../../x"}`, "/api/v1/namespaces/..%2F..%2Fx");
    // An escape in a value is a literal "%": the API server reads the name "%2e%2e", not "..".
    assert.equal(apiPath`/api/v1/namespaces/${"%2e%2e"}`, "/api/v1/namespaces/%252e%252e");
  });

  it("refuse an empty value and any '.' or '..' segment, which URL parsing would resolve", () => {
    for (const value of ["..", ".", ""]) {
      assert.throws(() => apiPath`/api/v1/namespaces/${value}/secrets`, /segment|empty/, value);
    }
    assert.throws(() => apiPath`/api/v1/namespaces/${undefined as unknown as string}/pods`, /empty/);
    assert.throws(() => apiPath`/api/v1/namespaces/${"."}${"."}/pods`, /segment/);
  });
});

describe("RestClient paths", () => {
  let server: Server;
  const seen: string[] = [];
  let rest: RestClient;

  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? "");
      const body =
        req.url === "/api/v1"
          ? { resources: [{ name: "pods", kind: "Pod", namespaced: true }] }
          : { apiVersion: "v1", kind: "Pod" };
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    rest = new RestClient(kubeConfig, 5_000);
  });
  after(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => (seen.length = 0));

  it("never send a request whose path has a dot segment", async () => {
    for (const path of [
      "/api/v1/namespaces/../secrets",
      "/api/v1/namespaces/%2e%2e/secrets",
      "/api/v1/namespaces/default/pods/./x",
    ])
      await assert.rejects(rest.request("GET", path), /refusing API path/, path);
    assert.deepEqual(seen, []);
  });

  it("encode the namespace and name of an object found through discovery", async () => {
    assert.equal(await rest.path("v1", "Pod", "a/b", "c/../d"), "/api/v1/namespaces/a%2Fb/pods/c%2F..%2Fd");
    await assert.rejects(rest.path("v1", "Pod", "..", "x"), /segment/);
    await assert.rejects(
      rest.pathOf({ apiVersion: "v1", kind: "Pod", metadata: { namespace: "default", name: ".." } }),
      /segment/,
    );
    assert.deepEqual(seen, ["/api/v1"]);
  });
});

describe("RestClient connections", () => {
  let server: HttpsServer;
  let handshakes = 0;
  let rest: RestClient;

  before(async () => {
    const now = new Date();
    const ca = await createSelfSignedCa(
      "CN=rest test CA",
      new Date(now.getTime() - 60_000),
      new Date(now.getTime() + 3_600_000),
    );
    const serving = await issueServingCertificate(ca, {
      dnsNames: ["localhost"],
      validityMs: 3_600_000,
      now,
    });
    server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ kind: "Pod" }));
    });
    server.on("secureConnection", () => (handshakes += 1));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
          caData: Buffer.from(ca.pair.certPem).toString("base64"),
          tlsServerName: "localhost",
        },
      ],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    rest = new RestClient(kubeConfig, 5_000);
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it("keeps its TLS connections between requests instead of a handshake per request", async () => {
    for (let i = 0; i < 5; i++) await rest.request("GET", "/api/v1/namespaces/default/pods/web-0");
    assert.equal(handshakes, 1);
    await Promise.all([1, 2, 3].map(() => rest.request("GET", "/api/v1/namespaces/default/pods/web-0")));
    assert.ok(handshakes <= 3, `${handshakes} handshakes for 8 requests, 3 at once`);
  });
});
