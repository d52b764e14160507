import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import { pino } from "pino";
import { certificatePems } from "../../../src/pki/pem.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import { SECRET_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient, type SotwResponse } from "../../support/ads-client.js";
import { envoyViolationsOfMany } from "../../support/envoy-validator.js";
import { createMeshCa, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { rootAndIntermediate } from "../../support/pki.js";
import { controlPlane } from "../controlplane.fixture.js";
import { kubectlOk } from "../kubectl.js";

/**
 * Certificates over SDS, on the proxy's ADS stream, only after the proxy
 * proved its ServiceAccount with a projected token (audience skiff) that the
 * real API server accepts in a TokenReview.
 */
const NS = "e2e-sds";
const VALIDITY_MS = 4000;

type SecretJson = {
  name: string;
  tlsCertificate?: { certificateChain: { inlineString: string } };
  validationContext?: { trustedCa: { inlineString: string } };
};
const secrets = (response: SotwResponse) =>
  response.resources.map(
    (r) =>
      messageToJson(
        "envoy.extensions.transport_sockets.tls.v3.Secret",
        decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value),
      ) as SecretJson,
  );
const workloadCert = (response: SotwResponse) =>
  new X509Certificate(
    secrets(response).find((s) => s.name === "default")!.tlsCertificate!.certificateChain.inlineString,
  );

describe("workload certificates over SDS, for proxies that prove who they are", function () {
  this.timeout(60_000);
  let xds: RunningXdsServer;
  let address: string;
  let rootPem: string;
  const token = (serviceAccount: string, audience = "skiff", pod?: string) =>
    serviceAccountToken(controlPlane().kubeConfig(), NS, serviceAccount, audience, pod);
  const subscribe = (proxy: SotwClient) =>
    proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "reviews"]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "ratings"]);
    rootPem = (await createMeshCa(NS)).certPem;
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS,
      workloadValidityMs: VALIDITY_MS,
    });
    address = `127.0.0.1:${xds.port}`;
  });

  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("gives a proxy with a valid token its ServiceAccount's SPIFFE certificate and the trust bundle", async () => {
    const started = Date.now();
    const proxy = new SotwClient(
      address,
      { id: `sidecar~10.0.0.1~reviews-v1.${NS}~${NS}.svc.cluster.local` },
      await token("reviews", "skiff", "reviews-v1"),
    );
    try {
      subscribe(proxy);
      const response = await proxy.next(10_000);
      console.log(`      token review, issuance and first SDS response: ${Date.now() - started} ms`);
      assert.equal(workloadCert(response).subjectAltName, `URI:spiffe://cluster.local/ns/${NS}/sa/reviews`);
      assert.ok(workloadCert(response).checkIssued(new X509Certificate(rootPem)));
      assert.equal(
        secrets(response).find((s) => s.name === "ROOTCA")?.validationContext?.trustedCa.inlineString,
        rootPem,
      );
      const violations = envoyViolationsOfMany(
        secrets(response).map((secret) => ({
          label: secret.name,
          typeName: "envoy.extensions.transport_sockets.tls.v3.Secret",
          json: JSON.stringify(secret),
        })),
      );
      assert.deepEqual(violations, [], "the SDS Secrets pass Envoy's proto validation");
      proxy.ack(response);
    } finally {
      proxy.close();
    }
  });

  it("never gives a proxy another ServiceAccount's certificate, and refuses a node id its token does not back", async () => {
    // With no Pod named, the identity is the token's alone.
    const unnamed = new SotwClient(address, { id: "sidecar~unnamed" }, await token("ratings"));
    try {
      subscribe(unnamed);
      assert.equal(
        workloadCert(await unnamed.next(10_000)).subjectAltName,
        `URI:spiffe://cluster.local/ns/${NS}/sa/ratings`,
      );
    } finally {
      unnamed.close();
    }
    // The node id names the reviews Pod: a token bound to another Pod, or to none, cannot speak for it
    // (its ACKs and NACKs would become that Pod's policy status).
    const reviewsPod = `sidecar~10.0.0.1~reviews-v1.${NS}~${NS}.svc.cluster.local`;
    for (const [what, credential] of [
      ["bound to another Pod", await token("ratings", "skiff", "ratings-v1")],
      ["bound to no Pod", await token("reviews")],
    ] as const) {
      const forger = new SotwClient(address, { id: reviewsPod }, credential);
      try {
        subscribe(forger);
        const status = await forger.status;
        assert.equal(status.code, GrpcStatus.PERMISSION_DENIED, `${what}: ${status.details}`);
        assert.match(status.details, new RegExp(`names the Pod ${NS}/reviews-v1`), what);
      } finally {
        forger.close();
      }
    }
  });

  it("refuses a token minted for another audience, and gives a proxy without a token no certificate", async () => {
    const wrongAudience = new SotwClient(address, { id: "sidecar~x" }, await token("reviews", "kubernetes"));
    try {
      subscribe(wrongAudience);
      const status = await wrongAudience.status;
      assert.equal(status.code, GrpcStatus.UNAUTHENTICATED, status.details);
    } finally {
      wrongAudience.close();
    }
    const anonymous = new SotwClient(address, { id: "sidecar~y" });
    try {
      subscribe(anonymous);
      assert.deepEqual((await anonymous.next(10_000)).resources, []);
    } finally {
      anonymous.close();
    }
  });

  it("rotates the certificate at 80% of its life on the same stream", async () => {
    const proxy = new SotwClient(address, { id: "sidecar~rotating" }, await token("reviews"));
    try {
      subscribe(proxy);
      const first = await proxy.next(10_000);
      proxy.ack(first);
      // Validity 4 s: the next certificate comes about 3.2 s after the first was issued.
      const second = await proxy.next(10_000);
      const lifetime = Date.parse(workloadCert(second).validTo) - Date.parse(workloadCert(first).validTo);
      assert.ok(lifetime >= 2000, `renewed ${lifetime} ms later: at 80% of 4 s, not at once`);
      proxy.ack(second);
      assert.notEqual(workloadCert(second).serialNumber, workloadCert(first).serialNumber);
      assert.equal(workloadCert(second).subjectAltName, `URI:spiffe://cluster.local/ns/${NS}/sa/reviews`);
    } finally {
      proxy.close();
    }
  });
});

describe("workload identity is checked again at each issuance", function () {
  this.timeout(60_000);
  const NS_ID = "e2e-sds-identity";
  /**
   * The API server itself remembers a token it accepted for 10 s
   * (kube-apiserver's token success cache), so a renewal within 10 s of
   * the stream's own review would still find the token valid. With 16 s of
   * validity the renewal comes at 12.8 s.
   */
  const VALIDITY_ID_MS = 16_000;
  let xds: RunningXdsServer;
  let address: string;

  before(async () => {
    await kubectlOk(["create", "namespace", NS_ID]);
    await createMeshCa(NS_ID);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS_ID,
      workloadValidityMs: VALIDITY_ID_MS,
    });
    address = `127.0.0.1:${xds.port}`;
  });

  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS_ID, "--wait=false"]);
  });

  it("renews no certificate once the ServiceAccount is deleted, and ends its streams with UNAUTHENTICATED", async () => {
    await kubectlOk(["create", "serviceaccount", "-n", NS_ID, "doomed"]);
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS_ID, "doomed");
    const proxy = new SotwClient(address, { id: "sidecar~doomed" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });
      const first = await proxy.next(10_000);
      assert.equal(workloadCert(first).subjectAltName, `URI:spiffe://cluster.local/ns/${NS_ID}/sa/doomed`);
      proxy.ack(first);
      await kubectlOk(["delete", "serviceaccount", "-n", NS_ID, "doomed"]);
      // The renewal, at 80% of the validity, checks the token again; the API server no longer accepts it.
      let ended: StatusObject | undefined;
      void proxy.status.then((status) => (ended = status));
      let renewed = false;
      // Short waits, so that none is left pending once the stream has ended.
      for (const deadline = Date.now() + VALIDITY_ID_MS + 5000; !ended && !renewed && Date.now() < deadline;)
        renewed = (await proxy.next(250).catch(() => undefined)) !== undefined;
      assert.ok(!renewed, "a certificate was renewed for a deleted ServiceAccount");
      assert.equal(ended && GrpcStatus[ended.code], "UNAUTHENTICATED", ended?.details);
      // A new stream with the same token is refused too.
      const again = new SotwClient(address, { id: "sidecar~doomed" }, token);
      try {
        again.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });
        assert.equal(GrpcStatus[(await again.status).code], "UNAUTHENTICATED");
      } finally {
        again.close();
      }
    } finally {
      proxy.close();
    }
  });

  it("refuses a peer that keeps presenting rejected tokens with RESOURCE_EXHAUSTED, and still takes a valid one it checked", async () => {
    await kubectlOk(["create", "serviceaccount", "-n", NS_ID, "steady"]);
    const valid = await serviceAccountToken(controlPlane().kubeConfig(), NS_ID, "steady");
    const wrongAudience = await serviceAccountToken(
      controlPlane().kubeConfig(),
      NS_ID,
      "steady",
      "kubernetes",
    );
    const connect = async (token: string, i: number) => {
      const proxy = new SotwClient(address, { id: `sidecar~p${i}` }, token);
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });
      return proxy;
    };
    const first = await connect(valid, 0);
    assert.ok(workloadCert(await first.next(10_000)));
    const codes: string[] = [];
    for (let i = 1; i <= 8; i++) {
      const proxy = await connect(`${wrongAudience.slice(0, -4)}${String(i).padStart(4, "0")}`, i);
      codes.push(GrpcStatus[(await proxy.status).code]!);
      proxy.close();
    }
    // Refused tokens from 127.0.0.1 in earlier tests count too: at most five refusals, then only refusals unasked.
    const refusals = codes.indexOf("RESOURCE_EXHAUSTED");
    assert.ok(refusals >= 1 && refusals <= 5, codes.join());
    assert.deepEqual(codes.slice(0, refusals), Array<string>(refusals).fill("UNAUTHENTICATED"));
    assert.deepEqual(codes.slice(refusals), Array<string>(8 - refusals).fill("RESOURCE_EXHAUSTED"));
    // The valid token was checked a moment ago: its proxy is still served.
    const second = await connect(valid, 9);
    try {
      assert.ok(workloadCert(await second.next(10_000)));
    } finally {
      second.close();
      first.close();
    }
  });
});

describe("workload certificates signed by cert-manager's intermediate", function () {
  this.timeout(60_000);
  const NS_CM = "e2e-sds-cm";
  const MESH = "sds-cert-manager";
  // An older Mesh, so that this one is not the Mesh in force: the CA still comes from the Mesh rooted
  // where the xDS server runs. (Once, the server read the CA settings of the Mesh in force, and this
  // test failed whenever another test had left a Mesh behind.)
  const OLDER_MESH = "sds-older-mesh";
  let xds: RunningXdsServer;
  let rootPem: string;

  before(async () => {
    await kubectlOk(["create", "namespace", NS_CM]);
    await kubectlOk(["create", "serviceaccount", "-n", NS_CM, "reviews"]);
    // The Secret as cert-manager writes it for the operator's Certificate: the intermediate
    // (with the chain above it) in tls.crt, its key, and the issuer's root in ca.crt.
    const { rootPem: root, signer } = await rootAndIntermediate(new Date());
    rootPem = root;
    await kubectlOk([
      "create",
      "secret",
      "generic",
      "skiff-ca-intermediate",
      "-n",
      NS_CM,
      `--from-literal=tls.crt=${signer.certPem}`,
      `--from-literal=tls.key=${signer.keyPem}`,
      `--from-literal=ca.crt=${root}`,
    ]);
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1\nkind: Mesh\nmetadata: { name: ${OLDER_MESH} }\n`,
    );
    // creationTimestamp has a resolution of one second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: ${MESH} }
spec:
  rootNamespace: ${NS_CM}
  certificateAuthority: { certManager: { issuerRef: { name: mesh-root, kind: ClusterIssuer } } }
`,
    );
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS_CM,
    });
  });

  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "mesh", MESH, OLDER_MESH, "--wait=false"]);
    await kubectlOk(["delete", "namespace", NS_CM, "--wait=false"]);
  });

  it("delivers leaf plus intermediate, and only the root as ROOTCA", async () => {
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS_CM, "reviews");
    const proxy = new SotwClient(`127.0.0.1:${xds.port}`, { id: "sidecar~cm" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ["default", "ROOTCA"] });
      const received = secrets(await proxy.next(10_000));
      const chain = certificatePems(
        received.find((s) => s.name === "default")!.tlsCertificate!.certificateChain.inlineString,
      ).map((pem) => new X509Certificate(pem));
      assert.equal(chain.length, 2, "leaf and intermediate");
      assert.equal(chain[0]!.subjectAltName, `URI:spiffe://cluster.local/ns/${NS_CM}/sa/reviews`);
      assert.ok(chain[0]!.checkIssued(chain[1]!));
      assert.ok(chain[1]!.checkIssued(new X509Certificate(rootPem)));
      assert.equal(
        received.find((s) => s.name === "ROOTCA")?.validationContext?.trustedCa.inlineString,
        rootPem,
      );
    } finally {
      proxy.close();
    }
  });
});
