import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { pino } from "pino";
import type { KeyPair } from "../../../../src/pki/issue.js";
import { createRootCa } from "../../../../src/pki/root.js";
import { rootAndIntermediate } from "../../../support/pki.js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import {
  WorkloadCertificates,
  type MeshCa,
  type MeshTrust,
} from "../../../../src/xds/identity/workload-certificates.js";

const HOUR = 3600_000;

/**
 * What the staged root rotation relies on: a CA Secret change reaches every
 * identity at once, long before the 80% renewal (an hour's validity here).
 */
describe("WorkloadCertificates on a CA change", () => {
  const identity: WorkloadIdentity = { namespace: "shop", serviceAccount: "ratings" };
  let certificates: WorkloadCertificates | undefined;
  afterEach(() => certificates?.stop());

  async function setUp() {
    const old = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    const next = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    let ca: MeshCa | MeshTrust = {
      signer: old,
      trustBundlePem: old.certPem,
      trustDomain: "cluster.local",
      workloadValidityMs: HOUR,
    };
    const published: { pair: KeyPair; bundle: string }[] = [];
    certificates = new WorkloadCertificates(
      () => ca,
      (_identity, pair, trust) => published.push({ pair, bundle: trust.trustBundlePem }),
      async () => true,
      pino({ level: "silent" }),
    );
    await certificates.ensure(identity);
    return {
      old,
      next,
      published,
      setCa: (change: Partial<MeshCa>) => (ca = { ...(ca as MeshCa), ...change }),
      // No signer, only roots to trust: a staged root not yet signing, or no usable signer at all.
      setTrustOnly: (trustBundlePem: string) => (ca = { trustBundlePem }),
    };
  }
  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(condition());
  };

  it("republishes the same certificate with a new trust bundle (a root added or removed)", async () => {
    const { old, next, published, setCa } = await setUp();
    setCa({ trustBundlePem: old.certPem + next.certPem });
    certificates!.caChanged();
    assert.equal(published.length, 2);
    assert.equal(published[1]!.pair, published[0]!.pair, "the certificate is not re-issued");
    assert.equal(published[1]!.bundle, old.certPem + next.certPem);
  });

  it("re-issues at once with a new signer, not at 80% of the hour", async () => {
    const { next, published, setCa } = await setUp();
    setCa({ signer: next, trustBundlePem: next.certPem });
    certificates!.caChanged();
    await until(() => published.length === 2);
    const reissued = new X509Certificate(published[1]!.pair.certPem);
    assert.ok(reissued.checkIssued(new X509Certificate(next.certPem)), "signed by the new CA");
    assert.equal(reissued.subjectAltName, "URI:spiffe://cluster.local/ns/shop/sa/ratings");
  });

  it("renews at 80% of the certificate's real life when the signer expires before the Mesh's validity", async function () {
    this.timeout(10_000);
    // An intermediate with 4 s left: the certificate is cut to those 4 s, so it must renew within them,
    // not at 80% of the hour.
    const { signer } = await rootAndIntermediate(new Date(), 4000);
    const published: KeyPair[] = [];
    certificates = new WorkloadCertificates(
      () => ({
        signer,
        trustBundlePem: signer.certPem,
        trustDomain: "cluster.local",
        workloadValidityMs: HOUR,
      }),
      (_identity, pair) => published.push(pair),
      async () => true,
      pino({ level: "silent" }),
    );
    await certificates.ensure(identity);
    for (let i = 0; i < 60 && published.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(published.length, 2, "renewed before the signer's expiry");
  });

  it("republishes a trust bundle that comes with no signer, when it vouches for the certificate (a staged root)", async () => {
    const { old, next, published, setTrustOnly } = await setUp();
    setTrustOnly(old.certPem + next.certPem);
    certificates!.caChanged();
    assert.equal(published.length, 2);
    assert.equal(published[1]!.pair, published[0]!.pair, "the certificate stays; nothing can sign a new one");
    assert.equal(published[1]!.bundle, old.certPem + next.certPem);
  });

  it("holds back a trust bundle with no signer that would not vouch for the certificate", async () => {
    const { next, published, setTrustOnly } = await setUp();
    // Trusting only the new root now would make peers refuse the certificate workloads still present.
    setTrustOnly(next.certPem);
    certificates!.caChanged();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(published.length, 1);
  });

  it("issues nothing while there are only roots to trust", async () => {
    const { old, setTrustOnly } = await setUp();
    setTrustOnly(old.certPem);
    await assert.rejects(
      certificates!.ensure({ namespace: "shop", serviceAccount: "newcomer" }),
      /cannot sign/,
    );
  });

  it("does nothing when the Secret changed but the CA did not", async () => {
    const { published } = await setUp();
    certificates!.caChanged();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(published.length, 1);
  });
});

/**
 * A certificate is issued on an identity checked just then: each renewal
 * asks first whether a connected proxy still proves it (issue 14, finding 5).
 */
describe("WorkloadCertificates checks the identity again at each renewal", () => {
  const identity: WorkloadIdentity = { namespace: "shop", serviceAccount: "doomed" };
  /** 1.5 s of validity: renewed at 80%, after 1.2 s. */
  const VALIDITY_MS = 1500;
  let certificates: WorkloadCertificates | undefined;
  afterEach(() => certificates?.stop());

  async function setUp(stillProven: () => Promise<boolean>) {
    const root = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    const published: KeyPair[] = [];
    const forgotten: WorkloadIdentity[] = [];
    const checks: number[] = [];
    certificates = new WorkloadCertificates(
      () => ({
        signer: root,
        trustBundlePem: root.certPem,
        trustDomain: "cluster.local",
        workloadValidityMs: VALIDITY_MS,
      }),
      (_identity, pair) => published.push(pair),
      () => {
        checks.push(Date.now());
        return stillProven();
      },
      pino({ level: "silent" }),
      (gone) => forgotten.push(gone),
    );
    await certificates.ensure(identity);
    return { published, forgotten, checks };
  }
  const until = async (condition: () => boolean, ms = 5000) => {
    for (let waited = 0; waited < ms && !condition(); waited += 20)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(condition());
  };

  it("renews when a connected proxy still proves the identity", async function () {
    this.timeout(10_000);
    const { published, forgotten, checks } = await setUp(async () => true);
    await until(() => published.length === 2);
    assert.equal(checks.length, 1);
    assert.deepEqual(forgotten, []);
  });

  it("renews nothing, and withdraws the certificate, when no proxy proves it any more; the next proxy gets a new one", async function () {
    this.timeout(10_000);
    const { published, forgotten } = await setUp(async () => false);
    await until(() => forgotten.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(published.length, 1, "no certificate was issued on the failed check");
    assert.deepEqual(forgotten, [identity]);
    const next = await certificates!.ensure(identity);
    assert.notEqual(next, published[0]);
    assert.equal(published.length, 2);
  });

  it("keeps the current certificate when the check cannot be made, and issues nothing", async function () {
    this.timeout(10_000);
    const { published, forgotten, checks } = await setUp(() =>
      Promise.reject(new Error("the API server is down")),
    );
    await until(() => checks.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(published.length, 1);
    assert.deepEqual(forgotten, []);
    assert.equal(await certificates!.ensure(identity), published[0]);
  });

  it("checks before re-issuing under a new signer, too", async () => {
    const old = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    const next = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    let signer = old;
    const published: KeyPair[] = [];
    const forgotten: WorkloadIdentity[] = [];
    certificates = new WorkloadCertificates(
      () => ({
        signer,
        trustBundlePem: signer.certPem,
        trustDomain: "cluster.local",
        workloadValidityMs: HOUR,
      }),
      (_identity, pair) => published.push(pair),
      async () => false,
      pino({ level: "silent" }),
      (gone) => forgotten.push(gone),
    );
    await certificates.ensure(identity);
    signer = next;
    certificates.caChanged();
    await until(() => forgotten.length === 1);
    assert.equal(published.length, 1);
  });
});
