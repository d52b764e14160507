import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { checkWorkloadCsr, type CsrCheck } from "../../../src/pki/csr.js";
import { ECDSA_P256, webcrypto, x509 } from "../../../src/pki/crypto.js";
import { signingCaFromPem } from "../../../src/pki/issue.js";
import { createRootCa } from "../../../src/pki/root.js";
import { signWorkloadCertificate } from "../../../src/pki/workload.js";

const ID = "spiffe://cluster.local/ns/shop/sa/reviews";
const RSA = (bits: number) => ({
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: bits,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
});

/** A real CSR, as @peculiar/x509 builds one, for the given names and key. */
async function csr(
  names: x509.JsonGeneralName[] | undefined,
  algorithm: RsaHashedKeyGenParams | EcKeyGenParams = ECDSA_P256,
): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: "hash" in algorithm ? algorithm : { ...algorithm, hash: "SHA-256" },
    extensions: names ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return request.toString("pem");
}

const refusal = (check: CsrCheck) => (check.ok ? "accepted" : `${check.kind}: ${check.message}`);

describe("workload CSRs", () => {
  it("accepts one URI SAN equal to the proven SPIFFE ID, with a P-256 or RSA-2048 key", async () => {
    assert.equal(refusal(await checkWorkloadCsr(await csr([{ type: "url", value: ID }]), ID)), "accepted");
    const rsa = await csr([{ type: "url", value: ID }], RSA(2048));
    assert.equal(refusal(await checkWorkloadCsr(rsa, ID)), "accepted");
  });

  const identityCases: [string, x509.JsonGeneralName[]][] = [
    ["another ServiceAccount", [{ type: "url", value: "spiffe://cluster.local/ns/shop/sa/ratings" }]],
    ["another trust domain", [{ type: "url", value: "spiffe://evil.example/ns/shop/sa/reviews" }]],
    [
      "a DNS name besides",
      [
        { type: "url", value: ID },
        { type: "dns", value: "reviews.shop.svc" },
      ],
    ],
    [
      "two URIs",
      [
        { type: "url", value: ID },
        { type: "url", value: "spiffe://cluster.local/ns/shop/sa/ratings" },
      ],
    ],
    ["an IP address only", [{ type: "ip", value: "10.0.0.1" }]],
    [
      "an email besides",
      [
        { type: "url", value: ID },
        { type: "email", value: "a@b.c" },
      ],
    ],
  ];
  for (const [what, names] of identityCases)
    it(`refuses, as an identity mismatch, a CSR naming ${what}`, async () => {
      const check = await checkWorkloadCsr(await csr(names), ID);
      assert.match(refusal(check), /^identity: the csr asks for \[.*\]; this token proves only url:spiffe/);
    });

  it("refuses, as malformed, an RSA-1024 or P-384 key", async () => {
    const weak = await checkWorkloadCsr(await csr([{ type: "url", value: ID }], RSA(1024)), ID);
    assert.equal(refusal(weak), "malformed: the csr's RSA key has 1024 bits; at least 2048 are required");
    const p384 = { name: "ECDSA", namedCurve: "P-384" };
    const other = await checkWorkloadCsr(await csr([{ type: "url", value: ID }], p384), ID);
    assert.equal(refusal(other), "malformed: the csr's EC key is on secp384r1; only P-256 is accepted");
  });

  it("refuses, as malformed, a CSR whose signature does not cover what it says", async () => {
    // The same request with one byte of its SPIFFE ID changed after signing: a requester
    // without the key, or a request altered on the way.
    const pem = await csr([{ type: "url", value: ID }]);
    const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
    const at = der.indexOf(Buffer.from("sa/reviews"));
    assert.ok(at > 0);
    der[at + 3] = "R".charCodeAt(0);
    const altered = x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
    assert.equal(
      refusal(await checkWorkloadCsr(altered, "spiffe://cluster.local/ns/shop/sa/Reviews")),
      "malformed: the csr's signature does not verify with its own public key",
    );
  });

  it("refuses, as malformed, what is not one PEM CSR, or has no SAN", async () => {
    assert.match(refusal(await checkWorkloadCsr("hello", ID)), /^malformed: .*no CERTIFICATE REQUEST block/);
    const one = await csr([{ type: "url", value: ID }]);
    assert.match(refusal(await checkWorkloadCsr(one + one, ID)), /^malformed: the csr holds 2 certificate/);
    const garbage = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    assert.match(refusal(await checkWorkloadCsr(garbage, ID)), /^malformed: the csr cannot be parsed/);
    assert.equal(
      refusal(await checkWorkloadCsr(await csr(undefined), ID)),
      "malformed: the csr has 0 subjectAltName extensions; it needs exactly one",
    );
  });

  it("is signed with the workload profile, for the CSR's own key", async () => {
    const now = new Date("2026-11-25T12:00:00Z");
    const root = await createRootCa({ trustDomain: "cluster.local", validityMs: 48 * 3600_000, now });
    const pem = await csr([{ type: "url", value: ID }]);
    const check = await checkWorkloadCsr(pem, ID);
    assert.ok(check.ok);
    const leafPem = await signWorkloadCertificate(await signingCaFromPem(root), check.publicKey, {
      trustDomain: "cluster.local",
      namespace: "shop",
      serviceAccount: "reviews",
      validityMs: 3600_000,
      now,
    });
    const leaf = new X509Certificate(leafPem);
    assert.ok(leaf.verify(new X509Certificate(root.certPem).publicKey));
    assert.equal(leaf.subjectAltName, `URI:${ID}`);
    assert.equal(new x509.X509Certificate(leafPem).subject, "");
    assert.equal(
      leaf.publicKey.export({ format: "der", type: "spki" }).toString("base64"),
      Buffer.from(new x509.Pkcs10CertificateRequest(pem).publicKey.rawData).toString("base64"),
    );
    assert.equal(Date.parse(leaf.validFrom), now.getTime() - 60_000);
    assert.equal(Date.parse(leaf.validTo), now.getTime() + 3600_000);
  });
});
