import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { pino } from "pino";
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
 * their certificate unchanged, and certificates from the new root only from
 * the annotated time. Without that order, a proxy holding a certificate from
 * the new root meets peers that do not trust it yet.
 */
const NS = "e2e-staged-signer";
const STAGE_MS = 3000;

type SecretJson = {
  name: string;
  tlsCertificate?: { certificateChain: { inlineString: string } };
  validationContext?: { trustedCa: { inlineString: string } };
};
const secrets = (response: SotwResponse) =>
  response.resources.map(
    (r) =>
      messageToJson(
        "envoy.extensions.transport_sockets.tls.v3.Secret",
        decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value),
      ) as SecretJson,
  );
const certificate = (response: SotwResponse) =>
  new X509Certificate(
    secrets(response).find((s) => s.name === "default")!.tlsCertificate!.certificateChain.inlineString,
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

  it("sends the new roots with the old certificate, then re-issues under the new root at the annotated time", async () => {
    const old = await createMeshCa(NS);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS,
    });
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews");
    const proxy = new SotwClient(`127.0.0.1:${xds.port}`, { id: "sidecar~staged" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });
      const first = await proxy.next(10_000);
      proxy.ack(first);
      assert.ok(certificate(first).checkIssued(new X509Certificate(old.certPem)));

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
      assert.equal(
        certificate(trusted).serialNumber,
        certificate(first).serialNumber,
        "the same certificate",
      );
      assert.ok(Date.now() < signsFrom.getTime(), "trusted before the new root signs");

      const signed = await proxy.next(10_000);
      proxy.ack(signed);
      assert.ok(Date.now() >= signsFrom.getTime(), "nothing signed by the new root before its time");
      assert.ok(
        certificate(signed).checkIssued(new X509Certificate(next.certPem)),
        "re-issued under the new root",
      );
      assert.equal(trustBundle(signed), old.certPem + next.certPem);
    } finally {
      proxy.close();
    }
  });
});
