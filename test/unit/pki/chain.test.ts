import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { certificateChain } from "../../../src/pki/chain.js";
import { signingCaFromPem } from "../../../src/pki/issue.js";
import { certificatePems } from "../../../src/pki/pem.js";
import { createRootCa } from "../../../src/pki/root.js";
import { rootAndIntermediate } from "../../support/pki.js";
import { issueWorkloadCertificate } from "../../support/workload-secrets.js";

const HOUR = 3600_000;
const now = new Date();

const workload = (validityMs: number) => ({
  trustDomain: "cluster.local",
  namespace: "shop",
  serviceAccount: "ratings",
  validityMs,
  now,
});

describe("workload certificate chains", () => {
  it("is the leaf alone under the builtin root", async () => {
    const root = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now });
    const leaf = await issueWorkloadCertificate(await signingCaFromPem(root), workload(HOUR));
    assert.equal(certificatePems(certificateChain(leaf.certPem, root.certPem)).length, 1);
  });

  it("adds cert-manager's intermediate, not the root, so a peer trusting only the root can build the path", async () => {
    const { rootPem, signer } = await rootAndIntermediate(now);
    const leaf = await issueWorkloadCertificate(await signingCaFromPem(signer), workload(HOUR / 2));
    const chain = certificatePems(certificateChain(leaf.certPem, signer.certPem)).map(
      (pem) => new X509Certificate(pem),
    );
    assert.equal(chain.length, 2);
    assert.ok(chain[0]!.checkIssued(chain[1]!), "leaf issued by the intermediate");
    assert.ok(chain[1]!.checkIssued(new X509Certificate(rootPem)), "intermediate issued by the root");
  });

  it("never outlives its signer", async () => {
    const { signer } = await rootAndIntermediate(now, HOUR);
    const leaf = new X509Certificate(
      (await issueWorkloadCertificate(await signingCaFromPem(signer), workload(24 * HOUR))).certPem,
    );
    const intermediate = new X509Certificate(certificatePems(signer.certPem)[0]!);
    assert.ok(Date.parse(leaf.validTo) <= Date.parse(intermediate.validTo));
  });
});
