import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  caSecretMissing,
  missingCaSecretAction,
  regeneratedTrustBundle,
  stagedRootProblem,
} from "../../../../src/controllers/mesh/lost-ca.js";
import { certificatePems } from "../../../../src/pki/pem.js";
import { createRootCa } from "../../../../src/pki/root.js";
import { REGENERATE_CA_ANNOTATION } from "../../../../src/mesh/annotations.js";

const root = () => createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe("a missing builtin CA Secret", () => {
  it("gets the first root when the Mesh never recorded one", () => {
    assert.deepEqual(missingCaSecretAction(undefined, undefined), { action: "CreateFirstRoot" });
    assert.deepEqual(missingCaSecretAction(undefined, "anything"), { action: "CreateFirstRoot" });
  });

  it("is an incident when the Mesh recorded a root, until the annotation names that root", () => {
    assert.deepEqual(missingCaSecretAction("AB:CD", undefined), { action: "Report" });
    assert.deepEqual(missingCaSecretAction("AB:CD", "yes"), { action: "Report" });
    assert.deepEqual(
      missingCaSecretAction("AB:CD", "EF:01"),
      { action: "Report" },
      "an older loss's request",
    );
    assert.deepEqual(missingCaSecretAction("AB:CD", "AB:CD"), { action: "Regenerate" });
    assert.deepEqual(missingCaSecretAction("AB:CD", " ab:cd "), { action: "Regenerate" }, "as typed");
  });

  it("is reported with the lost root and how to ask for a new one", () => {
    const problem = caSecretMissing("skiff-system/skiff-ca", "AB:CD", undefined);
    assert.equal(problem.reason, "CASecretMissing");
    assert.match(problem.message, /skiff-system\/skiff-ca/);
    assert.ok(problem.message.includes(`${REGENERATE_CA_ANNOTATION}=AB:CD`), problem.message);
    assert.doesNotMatch(problem.message, /names/);
    assert.match(
      caSecretMissing("skiff-system/skiff-ca", "AB:CD", "yes").message,
      /names "yes", not the lost root/,
    );
  });
});

describe("a regenerated root's trust bundle", () => {
  it("holds the lost root, found by its fingerprint in the trust bundles the Mesh wrote, then the new root", async () => {
    const [lost, other, next] = await Promise.all([root(), root(), root()]);
    const bundle = regeneratedTrustBundle(
      fingerprint(lost.certPem),
      [other.certPem, `${other.certPem}${lost.certPem}`, "not a certificate"],
      next.certPem,
    );
    assert.equal(bundle.lostRootFound, true);
    assert.deepEqual(
      certificatePems(bundle.pem),
      certificatePems(lost.certPem + next.certPem),
      "only the lost root is carried over: nothing else a bundle holds becomes trusted",
    );
  });

  it("holds the new root alone when no bundle has the lost root", async () => {
    const [lost, next] = await Promise.all([root(), root()]);
    const bundle = regeneratedTrustBundle(fingerprint(lost.certPem), [], next.certPem);
    assert.deepEqual(bundle, { pem: next.certPem, lostRootFound: false });
  });
});

describe("a staged root", () => {
  it("is reported until it signs, with the roots it is trusted beside and when it starts", async () => {
    const [lost, next] = await Promise.all([root(), root()]);
    const problem = stagedRootProblem(
      next.certPem,
      lost.certPem + next.certPem,
      new Date("2026-12-04T12:01:00Z"),
    );
    assert.equal(problem.reason, "NewRootStaged");
    assert.ok(problem.message.includes(fingerprint(next.certPem)), problem.message);
    assert.match(problem.message, /beside 1 other root/);
    assert.match(problem.message, /2026-12-04T12:01:00/);
    assert.match(stagedRootProblem(next.certPem, next.certPem, new Date()).message, /alone/);
  });
});
