import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renewTls } from "../../../src/webhook/certificates.js";
import { createSelfSignedCa, issueLeaf, signingCaFromPem } from "../../../src/pki/issue.js";
import { x509 } from "../../../src/pki/crypto.js";
import { createRootCa } from "../../../src/pki/root.js";

const now = new Date("2026-11-25T12:00:00Z");
const HOUR = 3600_000;

/**
 * How many certificates OpenSSL (the library Envoy reads its trust bundles
 * with) finds in a PEM bundle. It reads line by line, so a bundle whose
 * `-----END CERTIFICATE-----` shares a line with the next `-----BEGIN` yields
 * none.
 */
function opensslCertificateCount(bundle: string): number {
  const dir = mkdtempSync(join(tmpdir(), "skiff-pem-"));
  try {
    writeFileSync(join(dir, "bundle.pem"), bundle);
    // storeutl exits non-zero on blocks it does not list (the private key); its count is what matters.
    const run = spawnSync("openssl", ["storeutl", "-noout", "-certs", join(dir, "bundle.pem")], {
      encoding: "utf8",
    });
    const total = /Total found: (\d+)/.exec(run.stdout)?.[1];
    assert.ok(total !== undefined, `openssl storeutl: ${run.stderr}`);
    return Number(total);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("PEM bundles made by concatenation stay readable by OpenSSL", () => {
  it("two builtin roots, as ca.crt holds them during a root rotation", async () => {
    const a = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now });
    const b = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now });
    assert.equal(opensslCertificateCount(a.certPem + b.certPem), 2);
  });

  it("a leaf and its signer, and a key after them", async () => {
    const ca = await createSelfSignedCa("CN=test-ca", now, new Date(now.getTime() + HOUR));
    const leaf = await issueLeaf(await signingCaFromPem(ca.pair), {
      subject: "CN=leaf",
      usage: x509.ExtendedKeyUsage.serverAuth,
      sans: [{ type: "dns", value: "leaf.test" }],
      notBefore: now,
      notAfter: new Date(now.getTime() + HOUR),
    });
    assert.equal(opensslCertificateCount(leaf.certPem + ca.pair.certPem + leaf.keyPem), 2);
    assert.ok(leaf.keyPem.endsWith("\n"));
  });

  it("the webhook's CA bundle after its CA is replaced: the new CA and the old one", async () => {
    const hosts = ["skiff-webhook.skiff-system.svc"];
    const first = await renewTls(undefined, "new-ca", hosts, now);
    const next = await renewTls(first, "new-ca", hosts, new Date(now.getTime() + HOUR));
    assert.equal(opensslCertificateCount(next.caBundlePem), 2);
  });
});
