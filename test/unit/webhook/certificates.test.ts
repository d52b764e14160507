import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { pino } from "pino";
import { x509 } from "../../../src/pki/crypto.js";
import {
  renewTls,
  SERVING_VALIDITY_MS,
  CA_VALIDITY_MS,
  tlsVerdict,
} from "../../../src/webhook/certificates.js";
import { AdmissionServer } from "../../../src/webhook/server.js";

const DAY = 24 * 3600_000;
const hosts = ["skiff-webhook.skiff-system.svc", "skiff-webhook.skiff-system.svc.cluster.local"];
const start = new Date("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(start.getTime() + ms);
const bundleSize = (pem: string) => (pem.match(/BEGIN CERTIFICATE/g) ?? []).length;

describe("webhook certificates", () => {
  it("makes a CA and a serving certificate for the Service's names, signed by that CA", async () => {
    assert.equal(tlsVerdict(undefined, hosts, start), "new-ca");
    const tls = await renewTls(undefined, "new-ca", hosts, start);
    const serving = new x509.X509Certificate(tls.certPem);
    const ca = new x509.X509Certificate(tls.caBundlePem);
    assert.equal(serving.issuer, ca.subject);
    assert.ok(await serving.verify({ publicKey: ca.publicKey, date: at(DAY) }));
    const names = serving
      .getExtension(x509.SubjectAlternativeNameExtension)!
      .names.toJSON()
      .map((n) => n.value);
    assert.deepEqual(names, hosts);
    assert.equal(tlsVerdict(tls, hosts, at(DAY)), "ok");
  });

  it("re-issues the serving certificate with a third of its life left, keeping the CA", async () => {
    const tls = await renewTls(undefined, "new-ca", hosts, start);
    const late = at(SERVING_VALIDITY_MS - 29 * DAY);
    assert.equal(tlsVerdict(tls, hosts, late), "reissue-serving");
    const next = await renewTls(tls, "reissue-serving", hosts, late);
    assert.equal(next.caBundlePem, tls.caBundlePem);
    assert.notEqual(next.certPem, tls.certPem);
    assert.equal(tlsVerdict(next, hosts, late), "ok");
  });

  it("re-issues when the names change, as when the Service is renamed", async () => {
    const tls = await renewTls(undefined, "new-ca", hosts, start);
    assert.equal(tlsVerdict(tls, ["other.skiff-system.svc"], at(DAY)), "reissue-serving");
  });

  it("replaces the CA before it expires, and keeps the old one in the bundle while it is valid", async () => {
    const tls = await renewTls(undefined, "new-ca", hosts, start);
    const late = at(CA_VALIDITY_MS - 59 * DAY);
    assert.equal(tlsVerdict(tls, hosts, late), "new-ca");
    const next = await renewTls(tls, "new-ca", hosts, late);
    assert.equal(bundleSize(next.caBundlePem), 2, "new CA first, old CA kept");
    assert.equal(tlsVerdict(next, hosts, late), "ok");
    const afterOldExpired = await renewTls(next, "new-ca", hosts, at(CA_VALIDITY_MS + DAY));
    assert.equal(
      bundleSize(afterOldExpired.caBundlePem),
      2,
      "the expired CA is dropped, the current one kept",
    );
  });

  it("treats unreadable material as missing", () => {
    assert.equal(
      tlsVerdict({ caBundlePem: "garbage", caKeyPem: "x", certPem: "y", keyPem: "z" }, hosts, start),
      "new-ca",
    );
  });

  it("serves a replaced certificate to new connections without a restart", async () => {
    const now = new Date();
    const first = await renewTls(undefined, "new-ca", ["127.0.0.1"], now);
    const second = await renewTls(first, "reissue-serving", ["127.0.0.1"], now);
    const server = new AdmissionServer(first, {}, pino({ level: "silent" }));
    const port = await server.listen("127.0.0.1", 0);
    const servedCert = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port, ca: first.caBundlePem }, () => {
          resolve(socket.getPeerX509Certificate()!.fingerprint256);
          socket.end();
        });
        socket.on("error", reject);
      });
    try {
      assert.equal(await servedCert(), new X509Certificate(first.certPem).fingerprint256);
      server.setCertificate(second);
      assert.equal(await servedCert(), new X509Certificate(second.certPem).fingerprint256);
    } finally {
      await server.close();
    }
  });
});
