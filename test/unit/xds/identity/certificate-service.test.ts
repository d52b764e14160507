import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import fc from "fast-check";
import { pino } from "pino";
import { keyAndCsr } from "../../../../src/agent/ca-client.js";
import { x509 } from "../../../../src/pki/crypto.js";
import { createRootCa } from "../../../../src/pki/root.js";
import type { WorkloadIdentity } from "../../../../src/xds/cache/snapshot.js";
import { CertificateService } from "../../../../src/xds/identity/certificate-service.js";
import { TokenReviews } from "../../../../src/xds/identity/token-reviews.js";
import type { MeshCa } from "../../../../src/xds/identity/mesh-ca.js";
import { messageType } from "../../../../src/xds/protos/registry.js";
import { AuthenticationError } from "../../../../src/xds/server/authentication-error.js";

const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");
const ID = "spiffe://cluster.local/ns/shop/sa/reviews";

/**
 * No request makes CreateCertificate throw or answer INTERNAL (an exception
 * in our own code): arbitrary bytes, and IstioCertificateRequests holding
 * arbitrary text, real CSRs and real CSRs with a byte changed, any
 * validity, under good, refused, uncheckable, missing and non-bearer
 * credentials. The API server is played by a function, as in
 * token-reviews.test.ts; everything else is the real code.
 */
describe("CreateCertificate answers every request", () => {
  let service: CertificateService;
  let csrs: string[];

  before(async () => {
    const root = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
    const ca: MeshCa = {
      signer: root,
      trustBundlePem: root.certPem,
      trustDomain: "cluster.local",
      workloadValidityMs: 3600_000,
    };
    const review = async (token: string): Promise<WorkloadIdentity> => {
      await Promise.resolve();
      if (token === "down") throw new AuthenticationError(status.UNAVAILABLE, "the API server is down");
      if (token !== "good") throw new AuthenticationError(status.UNAUTHENTICATED, "not accepted");
      return { namespace: "shop", serviceAccount: "reviews" };
    };
    service = new CertificateService({
      ca: () => ca,
      tokens: new TokenReviews(review),
      logger: pino({ level: "silent" }),
    });
    csrs = [(await keyAndCsr(ID)).csrPem, (await keyAndCsr("spiffe://cluster.local/ns/shop/sa/x")).csrPem];
  });

  const mutated = (pem: string, at: number, byte: number) => {
    const der = Buffer.from(x509.PemConverter.decodeFirst(pem));
    der[at % der.length] = byte;
    return x509.PemConverter.encode(der, "CERTIFICATE REQUEST");
  };

  it("with a status of its own, never INTERNAL", async () => {
    const outcomes = new Map<string, number>();
    const csr = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(0, 1).map((i) => csrs[i]!),
      fc
        .tuple(fc.constantFrom(0, 1), fc.nat(), fc.nat({ max: 255 }))
        .map(([i, at, b]) => mutated(csrs[i]!, at, b)),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .record({ csr, validityDuration: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }) })
        .map((r) => toBinary(REQUEST, create(REQUEST, r as never))),
    );
    const authorization = fc.constantFrom("Bearer good", "Bearer bad", "Bearer down", "Basic x", undefined);
    await fc.assert(
      fc.asyncProperty(body, authorization, fc.nat({ max: 9 }), async (bytes, auth, peer) => {
        const metadata = new Metadata();
        if (auth !== undefined) metadata.set("authorization", auth);
        const answer = await service.answer(Buffer.from(bytes), metadata, `10.0.0.${peer}:1`);
        const outcome = "response" in answer ? "OK" : status[answer.code]!;
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        assert.ok(outcome !== "INTERNAL" && outcome !== "UNKNOWN", JSON.stringify(answer));
      }),
      { numRuns: 300, seed: 16_0001 },
    );
    // The search got past authentication to each kind of answer.
    for (const reached of ["OK", "INVALID_ARGUMENT", "PERMISSION_DENIED", "UNAUTHENTICATED", "UNAVAILABLE"])
      assert.ok(outcomes.has(reached), `${reached} never reached: ${JSON.stringify([...outcomes])}`);
  });
});
