/**
 * How long the xDS server takes to answer one CreateCertificate (parse and
 * check the CSR, sign, encode), over 200 requests in this process. The
 * token review is an instant function here, as the API server's latency is
 * not the server's work; the keys and CSRs are made before timing, as each
 * agent makes its own.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { pino } from "pino";
import { keyAndCsr } from "../../src/agent/ca-client.js";
import { createRootCa } from "../../src/pki/root.js";
import { CertificateService } from "../../src/xds/identity/certificate-service.js";
import { TokenReviews } from "../../src/xds/identity/token-reviews.js";
import { messageType } from "../../src/xds/protos/registry.js";

const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");
const COUNT = 200;

const root = await createRootCa({
  trustDomain: "cluster.local",
  validityMs: 3600_000 * 24 * 365,
  now: new Date(),
});
const service = new CertificateService({
  ca: () => ({
    signer: root,
    trustBundlePem: root.certPem,
    trustDomain: "cluster.local",
    workloadValidityMs: 86_400_000,
  }),
  // Token i proves ServiceAccount sa-i.
  tokens: new TokenReviews(async (token) => ({ namespace: "bench", serviceAccount: token })),
  logger: pino({ level: "silent" }),
});
const requests = [];
for (let i = 0; i < COUNT; i++) {
  const { csrPem } = await keyAndCsr(`spiffe://cluster.local/ns/bench/sa/sa-${i}`);
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer sa-${i}`);
  requests.push({ metadata, body: toBinary(REQUEST, create(REQUEST, { csr: csrPem } as never)) });
}
const times: number[] = [];
for (const { metadata, body } of requests) {
  const started = performance.now();
  const answer = await service.answer(body, metadata, "127.0.0.1:1");
  times.push(performance.now() - started);
  if (!("response" in answer)) throw new Error(`refused: ${answer.details}`);
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
console.log(`CSR signing (CreateCertificate) over ${times.length}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
