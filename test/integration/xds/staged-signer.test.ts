import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Client, credentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { createCertificate, keyAndCsr } from "../../../src/agent/ca-client.js";
import { RestClient } from "../../../src/k8s/rest.js";
import { createRootCa } from "../../../src/pki/root.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import { SECRET_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient, type SotwResponse } from "../../support/ads-client.js";
import { createMeshCa, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { kubectlOk } from "../kubectl.js";
import { SIGNS_FROM_ANNOTATION } from "../../../src/mesh/annotations.js";

/**
 * A CA Secret whose signer is staged (skiff.dev/signs-from, as the operator
 * writes a regenerated root): proxies get the new trust bundle at once with
 * the signer they were told of unchanged, and the new root is announced as
 * the signer (skiff-issuer: agents then re-request their certificates) and
 * signs CSRs only from the annotated time. Without that order, a proxy
 * holding a certificate from the new root meets peers that do not trust it
 * yet.
 */
const NS = "e2e-staged-signer";
const STAGE_MS = 3000;

type SecretJson = {
  name: string;
  validationContext?: { trustedCa: { inlineString: string } };
  genericSecret?: { secrets: Record<string, { inlineString: string }> };
};
const secrets = (response: SotwResponse) =>
  response.resources.map(
    (r) =>
      messageToJson(
        "envoy.extensions.transport_sockets.tls.v3.Secret",
        decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value),
      ) as SecretJson,
  );
/** The signer skiff-issuer names. */
const signer = (response: SotwResponse) =>
  new X509Certificate(
    secrets(response).find((s) => s.name === "skiff-issuer")!.genericSecret!.secrets.signer!.inlineString,
  );
const trustBundle = (response: SotwResponse) =>
  secrets(response).find((s) => s.name === "ROOTCA")?.validationContext?.trustedCa.inlineString;

describe("a staged signer: trusted at once, signing from its time", function () {
  this.timeout(60_000);
  let xds: RunningXdsServer;

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "reviews"]);
  });
  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("sends the new roots with the old signer, then announces the new root, which signs, at the annotated time", async () => {
    const old = await createMeshCa(NS);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS,
    });
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews");
    const proxy = new SotwClient(`127.0.0.1:${xds.port}`, { id: "sidecar~staged" }, token);
    const client = new Client(`127.0.0.1:${xds.port}`, credentials.createInsecure());
    /** A CSR's leaf, or the refusal's message. */
    const ask = async () => {
      const { csrPem } = await keyAndCsr(`spiffe://cluster.local/ns/${NS}/sa/reviews`);
      return createCertificate(client, { token, csrPem, validitySeconds: 0, deadlineMs: 20_000 }).then(
        (chain) => new X509Certificate(chain[0]!),
        (error: Error) => error.message,
      );
    };
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["skiff-issuer", "ROOTCA"] });
      const first = await proxy.next(10_000);
      proxy.ack(first);
      assert.equal(signer(first).fingerprint256, new X509Certificate(old.certPem).fingerprint256);

      // The old root is lost with its Secret; a new root is staged beside it, as the operator regenerates one.
      const rest = new RestClient(controlPlane().kubeConfig());
      await rest.request("DELETE", `/api/v1/namespaces/${NS}/secrets/skiff-ca`);
      const next = await createRootCa({
        trustDomain: "cluster.local",
        validityMs: 3600_000,
        now: new Date(),
      });
      const signsFrom = new Date(Date.now() + STAGE_MS);
      await rest.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "skiff-ca", annotations: { [SIGNS_FROM_ANNOTATION]: signsFrom.toISOString() } },
          type: "kubernetes.io/tls",
          stringData: {
            "tls.crt": next.certPem,
            "tls.key": next.keyPem,
            "ca.crt": old.certPem + next.certPem,
          },
        },
      });

      const trusted = await proxy.next(10_000);
      proxy.ack(trusted);
      assert.equal(trustBundle(trusted), old.certPem + next.certPem, "both roots, at once");
      assert.equal(signer(trusted).fingerprint256, signer(first).fingerprint256, "the same signer");
      const early = await ask();
      assert.ok(Date.now() < signsFrom.getTime(), "trusted before the new root signs");
      assert.match(String(early), /^14 UNAVAILABLE/, "nothing signs before the staged time");

      const announced = await proxy.next(10_000);
      proxy.ack(announced);
      assert.ok(Date.now() >= signsFrom.getTime(), "the new root is not announced before its time");
      assert.equal(signer(announced).fingerprint256, new X509Certificate(next.certPem).fingerprint256);
      assert.equal(trustBundle(announced), old.certPem + next.certPem);
      const leaf = await ask();
      assert.ok(typeof leaf !== "string", leaf as string);
      assert.ok(leaf.checkIssued(new X509Certificate(next.certPem)), "a CSR is signed by the new root");
    } finally {
      proxy.close();
      client.close();
    }
  });
});
