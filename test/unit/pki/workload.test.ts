import assert from "node:assert/strict";
import { X509Certificate as NodeX509 } from "node:crypto";
import { x509 } from "../../../src/pki/crypto.js";
import { signingCaFromPem } from "../../../src/pki/issue.js";
import { createRootCa } from "../../../src/pki/root.js";
import { spiffeId } from "../../../src/pki/workload.js";
import { issueWorkloadCertificate } from "../../support/workload-secrets.js";

const HOUR = 3600_000;

describe("workload certificates (X.509-SVIDs)", () => {
  const now = new Date("2026-11-25T12:00:00Z");
  let root: Awaited<ReturnType<typeof createRootCa>>;
  before(
    async () => (root = await createRootCa({ trustDomain: "cluster.local", validityMs: 87600 * HOUR, now })),
  );

  const issue = async () =>
    issueWorkloadCertificate(await signingCaFromPem(root), {
      trustDomain: "cluster.local",
      namespace: "bookinfo",
      serviceAccount: "reviews",
      validityMs: 24 * HOUR,
      now,
    });

  it("carries the SPIFFE ID as its only, critical, URI SAN, with an empty subject", async () => {
    const cert = new x509.X509Certificate((await issue()).certPem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension)!;
    assert.equal(san.critical, true);
    assert.deepEqual(san.names.toJSON(), [
      { type: "url", value: "spiffe://cluster.local/ns/bookinfo/sa/reviews" },
    ]);
    assert.equal(cert.subject, "");
    assert.equal(spiffeId("td", "ns", "sa"), "spiffe://td/ns/ns/sa/sa");
  });

  it("is ECDSA P-256, for server and client auth, not a CA, valid for workloadValidity", async () => {
    const pem = (await issue()).certPem;
    const cert = new x509.X509Certificate(pem);
    assert.equal((cert.publicKey.algorithm as EcKeyAlgorithm).namedCurve, "P-256");
    assert.deepEqual(
      [...cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages],
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    );
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false);
    assert.equal(cert.notAfter.getTime() - now.getTime(), 24 * HOUR);
  });

  it("chains to the mesh root, as Node's own X.509 code checks it", async () => {
    const leaf = new NodeX509((await issue()).certPem);
    const ca = new NodeX509(root.certPem);
    assert.ok(leaf.checkIssued(ca));
    assert.ok(leaf.verify(ca.publicKey));
    assert.equal(leaf.subjectAltName, "URI:spiffe://cluster.local/ns/bookinfo/sa/reviews");
  });
});
