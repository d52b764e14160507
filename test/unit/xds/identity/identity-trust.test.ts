import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { pino } from "pino";
import { certificatePems } from "../../../../src/pki/pem.js";
import { createRootCa } from "../../../../src/pki/root.js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import { IdentityTrust, type Trust } from "../../../../src/xds/identity/identity-trust.js";
import type { MeshCa, MeshTrust } from "../../../../src/xds/identity/mesh-ca.js";
import { rootAndIntermediate } from "../../../support/pki.js";

const HOUR = 3600_000;
const RATINGS: WorkloadIdentity = { namespace: "shop", serviceAccount: "ratings" };
const RATINGS_ID = "spiffe://cluster.local/ns/shop/sa/ratings";

/** A CA certificate as published: its PEM alone, normalised. */
const pem = (certPem: string) => certificatePems(certPem)[0]!;
const newRoot = () => createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
const signingWith = (
  signer: { certPem: string; keyPem: string },
  trustBundlePem = signer.certPem,
): MeshCa => ({
  signer,
  trustBundlePem,
  trustDomain: "cluster.local",
  workloadValidityMs: HOUR,
});

/**
 * What the staged root rotation relies on, now that workloads hold their own
 * keys: a CA Secret change reaches every identity's ROOTCA and skiff-issuer
 * at once, and nothing is published that would make peers refuse the
 * certificates workloads hold.
 */
describe("IdentityTrust on a CA change", () => {
  let trust: IdentityTrust | undefined;
  afterEach(() => trust?.stop());

  async function setUp(initial?: MeshCa | MeshTrust) {
    const old = await newRoot();
    const next = await newRoot();
    let ca: MeshCa | MeshTrust | undefined = initial ?? signingWith(old);
    const published: { identity: WorkloadIdentity; trust: Trust }[] = [];
    let checks = 0;
    trust = new IdentityTrust(
      () => ca,
      (identity, t) => published.push({ identity, trust: t }),
      () => assert.fail("nothing is withdrawn here"),
      async () => (checks++, true),
      () => HOUR,
      pino({ level: "silent" }),
    );
    return {
      old,
      next,
      published,
      checks: () => checks,
      setCa: (change: MeshCa | MeshTrust | undefined) => (ca = change),
    };
  }

  it("publishes the trust bundle, SPIFFE ID and signer on an identity's first proof, and only then", async () => {
    const { old, published } = await setUp();
    await trust!.proven(RATINGS);
    await trust!.proven(RATINGS);
    assert.deepEqual(published, [
      {
        identity: RATINGS,
        trust: { trustBundlePem: old.certPem, spiffeId: RATINGS_ID, signerPem: pem(old.certPem) },
      },
    ]);
  });

  it("names only the signer's own certificate when tls.crt carries the chain above it", async () => {
    const { signer, rootPem } = await rootAndIntermediate(new Date());
    const { published } = await setUp(signingWith(signer, rootPem));
    await trust!.proven(RATINGS);
    const { signerPem, trustBundlePem } = published[0]!.trust;
    assert.equal(signerPem.match(/BEGIN CERTIFICATE/g)?.length, 1, "one certificate");
    assert.equal(new X509Certificate(signerPem).subject, "CN=Skiff intermediate CA");
    assert.equal(trustBundlePem, rootPem);
  });

  it("publishes a new trust bundle (a root added) at once, with the same signer", async () => {
    const { old, next, published, setCa } = await setUp();
    await trust!.proven(RATINGS);
    setCa(signingWith(old, old.certPem + next.certPem));
    trust!.caChanged();
    assert.equal(published.length, 2);
    assert.deepEqual(published[1]!.trust, {
      trustBundlePem: old.certPem + next.certPem,
      spiffeId: RATINGS_ID,
      signerPem: pem(old.certPem),
    });
  });

  it("announces a new signer to every identity at once, with no check of the identity", async () => {
    const { old, next, published, setCa, checks } = await setUp();
    const reviews = { namespace: "shop", serviceAccount: "reviews" };
    await trust!.proven(RATINGS);
    await trust!.proven(reviews);
    setCa(signingWith(next, old.certPem + next.certPem));
    trust!.caChanged();
    assert.deepEqual(
      published.slice(2).map((p) => [p.identity.serviceAccount, p.trust.signerPem, p.trust.spiffeId]),
      [
        ["ratings", pem(next.certPem), RATINGS_ID],
        ["reviews", pem(next.certPem), "spiffe://cluster.local/ns/shop/sa/reviews"],
      ],
    );
    // Announcing a signer is no certificate: each agent's CSR has its token reviewed afresh.
    assert.equal(checks(), 0);
  });

  it("publishes a bundle with no signer (a staged root) that vouches for the announced signer, keeping that signer", async () => {
    const { old, next, published, setCa } = await setUp();
    await trust!.proven(RATINGS);
    setCa({ trustBundlePem: old.certPem + next.certPem });
    trust!.caChanged();
    assert.equal(published.length, 2);
    assert.deepEqual(published[1]!.trust, {
      trustBundlePem: old.certPem + next.certPem,
      spiffeId: RATINGS_ID,
      signerPem: pem(old.certPem),
    });
  });

  it("holds back a bundle with no signer that does not vouch for the announced signer", async () => {
    const { next, published, setCa } = await setUp();
    await trust!.proven(RATINGS);
    // Trusting only the new root now would make peers refuse the certificates workloads still present.
    setCa({ trustBundlePem: next.certPem });
    trust!.caChanged();
    assert.equal(published.length, 1);
  });

  it("serves an identity first proven while nothing can sign, and publishes its Secrets once something can", async () => {
    const { old, next, published, setCa } = await setUp();
    setCa(undefined);
    await trust!.proven(RATINGS);
    setCa({ trustBundlePem: old.certPem + next.certPem });
    trust!.caChanged();
    assert.equal(published.length, 0, "no signer to announce: nothing yet (an agent waits for both Secrets)");
    setCa(signingWith(next, old.certPem + next.certPem));
    trust!.caChanged();
    assert.deepEqual(
      published.map((p) => p.trust),
      [{ trustBundlePem: old.certPem + next.certPem, spiffeId: RATINGS_ID, signerPem: pem(next.certPem) }],
    );
  });

  it("keeps what it published while the CA is unusable, and publishes nothing when the Secret changed but the CA did not", async () => {
    const { old, published, setCa } = await setUp();
    await trust!.proven(RATINGS);
    setCa(undefined);
    trust!.caChanged();
    setCa(signingWith(old));
    trust!.caChanged();
    assert.equal(published.length, 1);
  });
});

/**
 * An identity is followed only while a connected proxy proves it with
 * credentials the API server accepts now (issue 14, finding 5): a check
 * every recheckEveryMs (here the shortest, a second).
 */
describe("IdentityTrust checks the identity again", () => {
  let trust: IdentityTrust | undefined;
  afterEach(() => trust?.stop());

  async function setUp(stillProven: () => Promise<boolean>) {
    const root = await newRoot();
    const published: WorkloadIdentity[] = [];
    const withdrawn: WorkloadIdentity[] = [];
    let checks = 0;
    trust = new IdentityTrust(
      () => signingWith(root),
      (identity) => published.push(identity),
      (identity) => withdrawn.push(identity),
      () => (checks++, stillProven()),
      () => 0,
      pino({ level: "silent" }),
    );
    await trust.proven(RATINGS);
    return { published, withdrawn, checks: () => checks };
  }
  const until = async (condition: () => boolean) => {
    for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(condition());
  };

  it("keeps checking while a connected proxy proves the identity, and withdraws nothing", async function () {
    this.timeout(10_000);
    const { published, withdrawn, checks } = await setUp(async () => true);
    await until(() => checks() === 2);
    assert.deepEqual(withdrawn, []);
    assert.equal(published.length, 1, "a check republishes nothing");
  });

  it("withdraws the identity's Secrets when no proxy proves it any more; the next proof publishes them again", async function () {
    this.timeout(10_000);
    const { published, withdrawn } = await setUp(async () => false);
    await until(() => withdrawn.length === 1);
    assert.deepEqual(withdrawn, [RATINGS]);
    await trust!.proven(RATINGS);
    assert.deepEqual(published, [RATINGS, RATINGS]);
  });

  it("withdraws nothing when the check cannot be made", async function () {
    this.timeout(10_000);
    const { published, withdrawn, checks } = await setUp(() =>
      Promise.reject(new Error("the API server is down")),
    );
    await until(() => checks() === 1);
    // The failed check has settled once proven() returns (it waits for a check under way).
    await trust!.proven(RATINGS);
    assert.deepEqual(withdrawn, []);
    assert.equal(published.length, 1, "still followed: a new proof publishes nothing new");
  });

  it("follows again an identity proven while a check that withdraws it is under way", async function () {
    this.timeout(10_000);
    let answer!: (proven: boolean) => void;
    const { published, withdrawn, checks } = await setUp(() => new Promise((resolve) => (answer = resolve)));
    await until(() => checks() === 1);
    // A proxy connects as the check finds none: its proof must not be lost to the withdrawal.
    const proof = trust!.proven(RATINGS);
    answer(false);
    await proof;
    assert.deepEqual(withdrawn, [RATINGS]);
    assert.deepEqual(published, [RATINGS, RATINGS], "published again after the withdrawal");
  });
});
