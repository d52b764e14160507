import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { keyAndCsr } from "../../../../src/agent/ca-client.js";
import { registry } from "../../../../src/observability/metrics.js";
import type { KeyPair } from "../../../../src/pki/issue.js";
import { createRootCa } from "../../../../src/pki/root.js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import { CertificateService } from "../../../../src/xds/identity/certificate-service.js";
import { TokenReviews } from "../../../../src/xds/identity/token-reviews.js";
import { WorkloadCertificates, type MeshCa } from "../../../../src/xds/identity/workload-certificates.js";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";

const HOUR = 3600_000;
const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");

/**
 * Certificate issuance as Prometheus scrapes it: every certificate the CA
 * signs, by how its key was made (sds: the server's, csr: the workload's),
 * and each CSR's outcome. The registry is the process's, so each check is of
 * the exact change since the test began.
 */
async function scrape(): Promise<Map<string, number>> {
  const series = new Map<string, number>();
  for (const line of (await registry.metrics()).split("\n")) {
    const match = /^(skiff_certificate[a-z_]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match && !match[1]!.includes("_bucket") && !match[1]!.includes("_sum"))
      series.set(match[1]!, Number(match[2]));
  }
  return series;
}

function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of after)
    if (value !== (before.get(name) ?? 0)) out[name] = value - (before.get(name) ?? 0);
  return out;
}

async function meshCa(): Promise<MeshCa> {
  const root = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
  return {
    signer: root,
    trustBundlePem: root.certPem,
    trustDomain: "cluster.local",
    workloadValidityMs: HOUR,
  };
}

describe("certificate issuance metrics", () => {
  it("count each certificate the server makes a key for: first issuance and re-issuance for a new signer, not a cached one", async () => {
    let ca = await meshCa();
    const published: KeyPair[] = [];
    const certificates = new WorkloadCertificates(
      () => ca,
      (_identity, pair) => published.push(pair),
      async () => true,
      pino({ level: "silent" }),
    );
    try {
      const start = await scrape();
      const reviews: WorkloadIdentity = { namespace: "shop", serviceAccount: "reviews" };
      await certificates.ensure(reviews);
      await certificates.ensure(reviews);
      await certificates.ensure({ namespace: "shop", serviceAccount: "ratings" });
      assert.deepEqual(moved(start, await scrape()), {
        'skiff_certificates_issued_total{via="sds"}': 2,
        'skiff_certificate_issuance_seconds_count{via="sds"}': 2,
      });
      // A new signer re-issues every certificate at once (the staged root rotation).
      ca = await meshCa();
      certificates.caChanged();
      for (let i = 0; i < 200 && published.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(published.length, 4);
      assert.deepEqual(moved(start, await scrape()), {
        'skiff_certificates_issued_total{via="sds"}': 4,
        'skiff_certificate_issuance_seconds_count{via="sds"}': 4,
      });
    } finally {
      certificates.stop();
    }
  });

  it("count a CSR's certificate once issued, and each refusal by its status only", async () => {
    const ca = await meshCa();
    const service = new CertificateService({
      ca: () => ca,
      // The API server is played by a function, as in certificate-service.test.ts.
      tokens: new TokenReviews(async (token) => {
        await Promise.resolve();
        if (token !== "good") throw new AuthenticationError(status.UNAUTHENTICATED, "not accepted");
        return { namespace: "shop", serviceAccount: "reviews" };
      }),
      logger: pino({ level: "silent" }),
    });
    const ask = async (token: string, spiffeId: string) => {
      const metadata = new Metadata();
      metadata.set("authorization", `Bearer ${token}`);
      const { csrPem } = await keyAndCsr(spiffeId);
      const body = toBinary(REQUEST, create(REQUEST, { csr: csrPem, validityDuration: 0n } as never));
      const answer = await service.answer(body, metadata, "10.0.0.1:1");
      return "response" in answer ? "issued" : status[answer.code];
    };
    const start = await scrape();
    assert.equal(await ask("good", "spiffe://cluster.local/ns/shop/sa/reviews"), "issued");
    assert.equal(await ask("good", "spiffe://cluster.local/ns/shop/sa/ratings"), "PERMISSION_DENIED");
    assert.equal(await ask("stolen", "spiffe://cluster.local/ns/shop/sa/reviews"), "UNAUTHENTICATED");
    assert.equal(await ask("good", "spiffe://cluster.local/ns/shop/sa/reviews"), "issued");
    assert.deepEqual(moved(start, await scrape()), {
      'skiff_certificate_requests_total{outcome="issued"}': 2,
      'skiff_certificate_requests_total{outcome="permission_denied"}': 1,
      'skiff_certificate_requests_total{outcome="unauthenticated"}': 1,
      'skiff_certificates_issued_total{via="csr"}': 2,
      'skiff_certificate_issuance_seconds_count{via="csr"}': 2,
    });
  });
});
