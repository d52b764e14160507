import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../../../src/pki/crypto.js";
import { inspectCa } from "../../../src/pki/inspect.js";
import { signingCaFromPem } from "../../../src/pki/issue.js";
import { createRootCa } from "../../../src/pki/root.js";
import { createLocalPki } from "../../../src/controlplane/pki.js";

const DAY = 24 * 3600_000;
const now = new Date("2026-11-25T12:00:00Z");

describe("builtin root CA", () => {
  it("is a self-signed ECDSA P-256 CA for the trust domain, valid for the requested time", async () => {
    const ca = await createRootCa({ trustDomain: "cluster.local", validityMs: 3650 * DAY, now });
    const cert = new X509Certificate(ca.certPem);
    assert.ok(cert.ca);
    assert.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey), "self-signed");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.match(cert.subject, /O=cluster.local/);
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 3650 * DAY);
  });

  it("passes inspection, which reports its expiry and fingerprint", async () => {
    const ca = await createRootCa({ trustDomain: "cluster.local", validityMs: 10 * DAY, now });
    const result = inspectCa(ca.certPem, ca.keyPem, now);
    assert.equal(result.ok, true);
    if (!result.ok) return;
    assert.equal(result.notAfter.getTime(), now.getTime() + 10 * DAY);
    assert.match(result.fingerprintSHA256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
});

describe("CA inspection reports, and never repairs, a broken CA Secret", () => {
  const reason = (r: ReturnType<typeof inspectCa>) => (r.ok ? "ok" : r.reason);

  it("names a missing certificate or key", async () => {
    const ca = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    assert.equal(reason(inspectCa(undefined, ca.keyPem, now)), "CertificateMissing");
    assert.equal(reason(inspectCa(ca.certPem, "  ", now)), "KeyMissing");
  });

  it("names an edited certificate or key", async () => {
    const ca = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    const edited = ca.certPem.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA");
    assert.match(reason(inspectCa(edited, ca.keyPem, now)), /InvalidCertificate|KeyMismatch/);
    assert.equal(reason(inspectCa("hello", ca.keyPem, now)), "InvalidCertificate");
    assert.equal(
      reason(inspectCa(ca.certPem, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", now)),
      "InvalidKey",
    );
  });

  it("notices a key that belongs to another CA", async () => {
    const [a, b] = await Promise.all([
      createRootCa({ trustDomain: "td", validityMs: DAY, now }),
      createRootCa({ trustDomain: "td", validityMs: DAY, now }),
    ]);
    const result = inspectCa(a.certPem, b.keyPem, now);
    assert.deepEqual(result, {
      ok: false,
      reason: "KeyMismatch",
      message: "tls.key does not belong to tls.crt",
    });
  });

  it("refuses a certificate that is not a CA", async () => {
    const pki = await createLocalPki();
    assert.equal(
      reason(inspectCa(pki.serving.certPem, pki.serving.keyPem, new Date())),
      "NotACertificateAuthority",
    );
  });

  it("tells expired and not-yet-valid apart", async () => {
    const ca = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    assert.equal(reason(inspectCa(ca.certPem, ca.keyPem, new Date(now.getTime() + 2 * DAY))), "Expired");
    assert.equal(reason(inspectCa(ca.certPem, ca.keyPem, new Date(now.getTime() - DAY))), "NotYetValid");
  });
});

describe("CA inspection against the trust bundle (ca.crt)", () => {
  const reason = (r: ReturnType<typeof inspectCa>) => (r.ok ? "ok" : r.reason);

  it("accepts a signer that the bundle holds, alone or beside another root (rotation step 1)", async () => {
    const old = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    const next = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    assert.equal(reason(inspectCa(old.certPem, old.keyPem, now, old.certPem)), "ok");
    assert.equal(reason(inspectCa(old.certPem, old.keyPem, now, old.certPem + next.certPem)), "ok");
    assert.equal(reason(inspectCa(next.certPem, next.keyPem, now, old.certPem + next.certPem)), "ok");
  });

  it("accepts an intermediate issued by a root in the bundle, as cert-manager's is", async () => {
    const root = await signingCaFromPem(await createRootCa({ trustDomain: "td", validityMs: DAY, now }));
    const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: "01",
      subject: "CN=intermediate",
      issuer: root.cert.subject,
      notBefore: new Date(now.getTime() - 1000),
      notAfter: new Date(now.getTime() + DAY / 2),
      publicKey: keys.publicKey,
      signingKey: root.privateKey,
      signingAlgorithm: ECDSA_P256,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const result = inspectCa(
      intermediate.toString("pem"),
      await privateKeyPem(keys.privateKey),
      now,
      root.cert.toString("pem"),
    );
    assert.equal(reason(result), "ok");
  });

  it("refuses a signer the bundle does not vouch for: switching tls.crt before adding its root to ca.crt", async () => {
    const old = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    const next = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    const result = inspectCa(next.certPem, next.keyPem, now, old.certPem);
    assert.equal(reason(result), "SignerNotTrusted");
    assert.match((result as { message: string }).message, /add its root to ca.crt first/);
  });

  it("names a bundle with no certificate in it", async () => {
    const ca = await createRootCa({ trustDomain: "td", validityMs: DAY, now });
    assert.equal(reason(inspectCa(ca.certPem, ca.keyPem, now, "not a certificate")), "InvalidTrustBundle");
  });
});
