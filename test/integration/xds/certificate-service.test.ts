import assert from "node:assert/strict";
import { createPublicKey, X509Certificate } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, credentials, status, type ServiceError } from "@grpc/grpc-js";
import { pino } from "pino";
import { createCertificate, keyAndCsr } from "../../../src/agent/ca-client.js";
import { PRIVATE_KEY_FILE } from "../../../src/agent/certificate-files.js";
import { certificateRequests } from "../../../src/observability/metrics.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { startAgentWithCertificate } from "../../support/agent.js";
import { createMeshCa, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { kubectlOk } from "../kubectl.js";

/**
 * IstioCertificateService/CreateCertificate on the xDS server, against the
 * real API server with real TokenRequest tokens: a workload gets a
 * certificate for the key it made, for the identity its token proves and
 * no other; and `skiff agent` keeps its key to itself, one per Pod.
 */
const NS = "e2e-csr";
const ID = (sa: string) => `spiffe://cluster.local/ns/${NS}/sa/${sa}`;

describe("certificates by CSR (IstioCertificateService)", function () {
  this.timeout(120_000);
  let xds: RunningXdsServer;
  let client: Client;
  let rootPem: string;

  /** The chain, or the status of the refusal and its message. */
  const ask = async (token: string, csrPem: string, validitySeconds = 0) => {
    try {
      return await createCertificate(client, { token, csrPem, validitySeconds, deadlineMs: 20_000 });
    } catch (error) {
      const { code, details } = error as ServiceError;
      return `${status[code]}: ${details}`;
    }
  };
  const count = async (outcome: string) =>
    (await certificateRequests.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    for (const sa of ["reviews", "ratings"]) await kubectlOk(["create", "serviceaccount", "-n", NS, sa]);
    rootPem = (await createMeshCa(NS)).certPem;
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      caNamespace: NS,
      logger: pino({ level: "silent" }),
    });
    client = new Client(`127.0.0.1:${xds.port}`, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("signs a Pod-bound token's CSR for its own SPIFFE ID, for the key in the CSR", async () => {
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews", "skiff", "reviews-1");
    const { csrPem, privateKeyPem } = await keyAndCsr(ID("reviews"));
    const before = await count("issued");
    const chain = await ask(token, csrPem, 600);
    assert.ok(Array.isArray(chain), String(chain));
    assert.equal(chain.length, 1, "the builtin root signs: the leaf alone");
    const leaf = new X509Certificate(chain[0]!);
    assert.equal(leaf.subjectAltName, `URI:${ID("reviews")}`);
    assert.ok(leaf.verify(new X509Certificate(rootPem).publicKey));
    assert.equal(
      leaf.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
      createPublicKey(privateKeyPem).export({ format: "der", type: "spki" }).toString("base64"),
    );
    // 600 s asked for, backdated a minute.
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 660_000);
    assert.equal(await count("issued"), before + 1);
  });

  it("refuses a CSR for another ServiceAccount than the token's, and a malformed one", async () => {
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews");
    const denied = await count("permission_denied");
    assert.match(
      String(await ask(token, (await keyAndCsr(ID("ratings"))).csrPem)),
      /^PERMISSION_DENIED: the csr asks for \[url:spiffe:\/\/cluster.local\/ns\/e2e-csr\/sa\/ratings\]; this token proves only url:spiffe:\/\/cluster.local\/ns\/e2e-csr\/sa\/reviews$/,
    );
    assert.equal(await count("permission_denied"), denied + 1);
    assert.match(String(await ask(token, "not a csr")), /^INVALID_ARGUMENT: the csr is not a PEM/);
    assert.match(String(await ask(token, "x".repeat(70_000))), /^INVALID_ARGUMENT: the request is \d+ bytes/);
  });

  it("refuses an unknown token, a token for another audience and no token with UNAUTHENTICATED", async () => {
    const { csrPem } = await keyAndCsr(ID("reviews"));
    const unknown = await ask("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", csrPem);
    assert.match(String(unknown), /^UNAUTHENTICATED: invalid credentials: the token was not accepted/);
    const other = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews", "another-audience");
    assert.match(String(await ask(other, csrPem)), /^UNAUTHENTICATED: /);
    const none = await new Promise<string>((resolve) =>
      client.makeUnaryRequest(
        "/istio.v1.auth.IstioCertificateService/CreateCertificate",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (error) => resolve(error ? `${status[error.code]}: ${error.details}` : "OK"),
      ),
    );
    assert.equal(none, "UNAUTHENTICATED: no bearer token: send the projected token");
  });

  it("gives two Pods of one ServiceAccount keys of their own, each made by its agent", async () => {
    const directory = mkdtempSync(join(tmpdir(), "skiff-csr-"));
    const agents = [];
    try {
      for (const pod of ["ratings-a", "ratings-b"]) {
        mkdirSync(join(directory, pod));
        agents.push(
          await startAgentWithCertificate({
            kubeConfig: controlPlane().kubeConfig(),
            xdsAddress: `127.0.0.1:${xds.port}`,
            namespace: NS,
            serviceAccount: "ratings",
            pod,
            host: "127.0.0.1",
            directory: join(directory, pod),
          }),
        );
      }
      const [a, b] = agents.map((agent) => ({
        key: readFileSync(join(agent.certDir, PRIVATE_KEY_FILE), "utf8"),
        cert: agent.certificate()!,
      }));
      assert.notEqual(a!.key, b!.key);
      assert.equal(a!.cert.subjectAltName, `URI:${ID("ratings")}`);
      assert.equal(b!.cert.subjectAltName, `URI:${ID("ratings")}`);
      // Each certificate is for its own agent's key.
      for (const { key, cert } of [a!, b!])
        assert.equal(
          cert.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
          createPublicKey(key).export({ format: "der", type: "spki" }).toString("base64"),
        );
    } finally {
      await Promise.all(agents.map((agent) => agent.stop()));
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("gives a proxyless agent the lifetime its SECRET_TTL asks for", async () => {
    const directory = mkdtempSync(join(tmpdir(), "skiff-csr-"));
    const agent = await startAgentWithCertificate({
      kubeConfig: controlPlane().kubeConfig(),
      xdsAddress: `127.0.0.1:${xds.port}`,
      namespace: NS,
      serviceAccount: "reviews",
      pod: "reviews-ttl",
      host: "127.0.0.1",
      directory,
      env: { SECRET_TTL: "30m" },
    });
    try {
      const certificate = agent.certificate()!;
      const lifetimeMs = Date.parse(certificate.validTo) - Date.parse(certificate.validFrom);
      // Not this CA's workloadValidity (1h). The CA backdates notBefore a minute for clock skew.
      assert.ok(
        lifetimeMs >= 30 * 60_000 && lifetimeMs <= 32 * 60_000,
        `lifetime ${lifetimeMs / 60_000} minutes`,
      );
    } finally {
      await agent.stop();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
