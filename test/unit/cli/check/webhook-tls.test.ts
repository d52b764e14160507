import assert from "node:assert/strict";
import { caBundleProblem } from "../../../../src/cli/check/webhook-tls.js";
import {
  webhookChecks,
  type WebhookConfiguration,
  type WebhookState,
} from "../../../../src/cli/check/webhooks.js";
import { renewTls, type WebhookTls } from "../../../../src/webhook/certificates.js";

const NOW = new Date("2026-12-04T12:00:00Z");
const HOST = "skiff-webhook.skiff-system.svc";
const b64 = (pem: string) => Buffer.from(pem).toString("base64");

/** The webhook's TLS material as the operator makes it (src/webhook/certificates.ts). */
const material = (hosts = [HOST, "skiff-webhook.skiff-system.svc.cluster.local"]): Promise<WebhookTls> =>
  renewTls(undefined, "new-ca", hosts, NOW);

describe("a webhook's caBundle against the operator's serving certificate", () => {
  it("passes the bundle the operator makes, for the Service's name and for 127.0.0.1 as skiff dev serves it", async () => {
    const tls = await material();
    assert.equal(caBundleProblem(b64(tls.caBundlePem), tls.certPem, HOST, NOW), undefined);
    const local = await material(["127.0.0.1"]);
    assert.equal(caBundleProblem(b64(local.caBundlePem), local.certPem, "127.0.0.1", NOW), undefined);
  });

  it("passes a bundle that holds the old CA beside the one that signed, as during a CA switch", async () => {
    const [old, current] = [await material(), await material()];
    assert.equal(
      caBundleProblem(b64(old.caBundlePem + current.caBundlePem), current.certPem, HOST, NOW),
      undefined,
    );
  });

  it("fails another CA's bundle, a missing or non-PEM bundle, another host, and an expired serving certificate", async () => {
    const [tls, other] = [await material(), await material()];
    assert.match(
      caBundleProblem(b64(other.caBundlePem), tls.certPem, HOST, NOW)!,
      /^no certificate in its caBundle \(CN=skiff-webhook-ca,O=skiff\) signed the serving certificate \(issuer CN=skiff-webhook-ca,O=skiff\)$/,
    );
    assert.equal(caBundleProblem(undefined, tls.certPem, HOST, NOW), "it has no caBundle");
    assert.equal(
      caBundleProblem(b64("hello"), tls.certPem, HOST, NOW),
      "its caBundle holds no PEM certificate",
    );
    assert.equal(
      caBundleProblem(b64(tls.caBundlePem), tls.certPem, "evil.example", NOW),
      "the serving certificate does not name evil.example, the host the API server calls",
    );
    const later = new Date(NOW.getTime() + 91 * 24 * 3600_000);
    assert.match(
      caBundleProblem(b64(tls.caBundlePem), tls.certPem, HOST, later)!,
      /^the serving certificate expired at /,
    );
  });
});

describe("the webhook checks, on configurations as config/webhook installs them", () => {
  const configuration = (caBundle: string): WebhookConfiguration => ({
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: "skiff-sidecar-injector" },
    webhooks: [
      {
        name: "inject.skiff.dev",
        clientConfig: { service: { namespace: "skiff-system", name: "skiff-webhook" }, caBundle },
      },
    ],
  });
  const state = (
    servingCert: WebhookState["servingCert"],
    caBundle: string,
    readyAddresses: number,
  ): WebhookState => ({
    namespace: "skiff-system",
    configurations: new Map([
      ["skiff-sidecar-injector", configuration(caBundle)],
      ["skiff-validation", undefined],
    ]),
    servingCert,
    services: new Map([["skiff-system/skiff-webhook", { serviceExists: true, readyAddresses }]]),
  });

  it("passes a matching caBundle and a Service with ready endpoints; fails a missing configuration", async () => {
    const tls = await material();
    const checks = webhookChecks(state({ pem: tls.certPem }, b64(tls.caBundlePem), 2), NOW);
    assert.deepEqual(
      checks.map((c) => [c.id, c.status]),
      [
        ["webhook-configuration", "ok"],
        ["webhook-cabundle", "ok"],
        ["webhook-configuration", "fail"],
        ["webhook-endpoints", "ok"],
      ],
    );
  });

  it("fails a Service without ready endpoints and a Secret without a certificate; warns when the Secret cannot be read", async () => {
    const tls = await material();
    const noEndpoints = webhookChecks(state({ pem: tls.certPem }, b64(tls.caBundlePem), 0), NOW);
    const endpoints = noEndpoints.find((c) => c.id === "webhook-endpoints")!;
    assert.equal(endpoints.status, "fail");
    assert.match(endpoints.hint!, /get pods -l app.kubernetes.io\/name=skiff-operator/);
    const noSecret = webhookChecks(state({ missing: true }, b64(tls.caBundlePem), 1), NOW);
    assert.equal(noSecret.find((c) => c.id === "webhook-cabundle")!.status, "fail");
    const forbidden = webhookChecks(
      state({ unreadable: "secrets is forbidden" }, b64(tls.caBundlePem), 1),
      NOW,
    );
    const unread = forbidden.find((c) => c.id === "webhook-cabundle")!;
    assert.equal(unread.status, "warning");
    assert.match(unread.detail!, /secrets is forbidden/);
  });
});
