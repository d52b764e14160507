import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { keyAndCsr } from "../../../../src/agent/ca-client.js";
import { registry } from "../../../../src/observability/metrics.js";
import { createRootCa } from "../../../../src/pki/root.js";
import { CertificateService } from "../../../../src/xds/identity/certificate-service.js";
import { TokenReviews } from "../../../../src/xds/identity/token-reviews.js";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";

const HOUR = 3600_000;
const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");

/**
 * Certificate issuance as Prometheus scrapes it: every certificate the CA
 * signs for a workload's CSR, how long it took, and each CSR's outcome.
 * The registry is the process's, so each check is of the exact change
 * since the test began.
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

describe("certificate issuance metrics", () => {
  it("count a CSR's certificate once issued, and each refusal by its status only", async () => {
    const root = await createRootCa({ trustDomain: "cluster.local", validityMs: HOUR, now: new Date() });
    const ca = {
      signer: root,
      trustBundlePem: root.certPem,
      trustDomain: "cluster.local",
      workloadValidityMs: HOUR,
    };
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
      skiff_certificate_issuance_seconds_count: 2,
    });
  });
});
