/**
 * How long issuing one workload certificate takes (key generation and
 * signing), over 200 issuances in this process.
 */
import { signingCaFromPem } from "../../src/pki/issue.js";
import { createRootCa } from "../../src/pki/root.js";
import { issueWorkloadCertificate } from "../../src/pki/workload.js";

const now = new Date();
const root = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000 * 24 * 365, now });
const ca = await signingCaFromPem(root);
const times: number[] = [];
for (let i = 0; i < 200; i++) {
  const started = performance.now();
  await issueWorkloadCertificate(ca, {
    trustDomain: "cluster.local",
    namespace: "bench",
    serviceAccount: `sa-${i}`,
    validityMs: 86_400_000,
    now,
  });
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(2);
console.log(`workload certificate issuance over ${times.length}: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
