import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { Client, credentials, status as GrpcStatus, type StatusObject } from "@grpc/grpc-js";
import { pino } from "pino";
import { createCertificate, keyAndCsr } from "../../../src/agent/ca-client.js";
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
 * The mesh's trust over SDS (ROOTCA, and skiff-issuer: the SPIFFE ID and
 * the signer), on the proxy's ADS stream, only after the proxy proved its
 * ServiceAccount with a projected token (audience skiff) that the real API
 * server accepts in a TokenReview. Never a certificate with its key: the
 * workload makes its key and sends a CSR (CreateCertificate, same port).
 */
const NS = "e2e-sds";
/** What a sidecar once asked for (`default`) and what an agent asks for. */
const ALL_SECRETS = ["default", "ROOTCA", "skiff-issuer"];

type SecretJson = {
  name: string;
  tlsCertificate?: unknown;
  validationContext?: { trustedCa: { inlineString: string } };
  genericSecret?: { secrets: Record<string, { inlineString: string }> };
};
const secrets = (response: SotwResponse) =>
  response.resources.map(
    (r) =>
      messageToJson(
        "envoy.extensions.transport_sockets.tls.v3.Secret",
        decodeMessage("envoy.extensions.transport_sockets.tls.v3.Secret", r.value),
      ) as SecretJson,
  );
const trustBundle = (response: SotwResponse) =>
  secrets(response).find((s) => s.name === "ROOTCA")?.validationContext?.trustedCa.inlineString;
const issuer = (response: SotwResponse) => {
  const named = secrets(response).find((s) => s.name === "skiff-issuer")?.genericSecret?.secrets;
  return { spiffeId: named?.spiffe_id?.inlineString, signerPem: named?.signer?.inlineString };
};
/** No Secret with a key, and no PEM private key anywhere in the bytes the server sent. */
const assertNoPrivateKey = (response: SotwResponse) => {
  assert.deepEqual(
    secrets(response).filter((s) => s.tlsCertificate !== undefined || s.name === "default"),
    [],
    "no default (tls_certificate) Secret",
  );
  for (const resource of response.resources)
    assert.ok(!Buffer.from(resource.value).toString("latin1").includes("PRIVATE KEY"), resource.name);
};
/** The chain CreateCertificate signs for a fresh key, or the refusal's status name. */
const askCertificate = async (address: string, token: string, spiffeId: string) => {
  const client = new Client(address, credentials.createInsecure());
  try {
    const { csrPem } = await keyAndCsr(spiffeId);
    return await createCertificate(client, { token, csrPem, validitySeconds: 0, deadlineMs: 20_000 });
  } catch (error) {
    return GrpcStatus[(error as { code: GrpcStatus }).code]!;
  } finally {
    client.close();
  }
};

describe("the mesh's trust over SDS, for proxies that prove who they are", function () {
  this.timeout(60_000);
  let xds: RunningXdsServer;
  let address: string;
  let rootPem: string;
  const token = (serviceAccount: string, audience = "skiff", pod?: string) =>
    serviceAccountToken(controlPlane().kubeConfig(), NS, serviceAccount, audience, pod);
  const subscribe = (proxy: SotwClient) =>
    proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });

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
    });
    address = `127.0.0.1:${xds.port}`;
  });

  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("gives a proxy with a valid token the trust bundle, its SPIFFE ID and the signer, never a key; its CSR gets the certificate", async () => {
    const started = Date.now();
    const proxy = new SotwClient(
      address,
      { id: `sidecar~10.0.0.1~reviews-v1.${NS}~${NS}.svc.cluster.local` },
      await token("reviews", "skiff", "reviews-v1"),
    );
    try {
      subscribe(proxy);
      const response = await proxy.next(10_000);
      console.log(`      token review and first SDS response: ${Date.now() - started} ms`);
      assert.deepEqual(response.names.toSorted(), ["ROOTCA", "skiff-issuer"]);
      assertNoPrivateKey(response);
      assert.equal(trustBundle(response), rootPem);
      const { spiffeId, signerPem } = issuer(response);
      assert.equal(spiffeId, `spiffe://cluster.local/ns/${NS}/sa/reviews`);
      assert.equal(
        new X509Certificate(signerPem!).fingerprint256,
        new X509Certificate(rootPem).fingerprint256,
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
      // The certificate comes by CSR, for the SPIFFE ID skiff-issuer named, from the signer it named.
      const chain = await askCertificate(address, await token("reviews", "skiff", "reviews-v1"), spiffeId!);
      assert.ok(Array.isArray(chain), String(chain));
      const leaf = new X509Certificate(chain[0]!);
      assert.equal(leaf.subjectAltName, `URI:${spiffeId}`);
      assert.ok(leaf.checkIssued(new X509Certificate(signerPem!)));
      await proxy.expectNothing();
    } finally {
      proxy.close();
    }
  });

  it("never names another ServiceAccount's identity to a proxy, and refuses a node id its token does not back", async () => {
    // With no Pod named, the identity is the token's alone.
    const unnamed = new SotwClient(address, { id: "sidecar~unnamed" }, await token("ratings"));
    try {
      subscribe(unnamed);
      assert.equal(issuer(await unnamed.next(10_000)).spiffeId, `spiffe://cluster.local/ns/${NS}/sa/ratings`);
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

  it("refuses a token minted for another audience, and gives a proxy without a token no Secrets", async () => {
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
});

describe("a proxy that proves its identity before the mesh CA can sign", function () {
  this.timeout(60_000);
  const NS_LATE = "e2e-sds-late-ca";
  let xds: RunningXdsServer;

  before(async () => {
    await kubectlOk(["create", "namespace", NS_LATE]);
    await kubectlOk(["create", "serviceaccount", "-n", NS_LATE, "early"]);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      logger: pino({ level: "silent" }),
      caNamespace: NS_LATE,
    });
  });
  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS_LATE, "--wait=false"]);
  });

  it("is served, and gets ROOTCA and skiff-issuer on the same stream once the CA Secret appears", async () => {
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS_LATE, "early");
    const proxy = new SotwClient(`127.0.0.1:${xds.port}`, { id: "sidecar~early" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });
      const before = await proxy.next(10_000);
      assert.deepEqual(before.names, [], "nothing to trust yet, and the stream stays open");
      proxy.ack(before);
      assert.equal(
        await askCertificate(`127.0.0.1:${xds.port}`, token, `spiffe://cluster.local/ns/${NS_LATE}/sa/early`),
        "UNAVAILABLE",
      );
      const root = await createMeshCa(NS_LATE);
      const after = await proxy.next(10_000);
      assert.equal(trustBundle(after), root.certPem);
      assert.equal(issuer(after).spiffeId, `spiffe://cluster.local/ns/${NS_LATE}/sa/early`);
      assertNoPrivateKey(after);
    } finally {
      proxy.close();
    }
  });
});

describe("workload identity is checked again", function () {
  this.timeout(60_000);
  const NS_ID = "e2e-sds-identity";
  /**
   * The API server itself remembers a token it accepted for 10 s
   * (kube-apiserver's token success cache), so a check within 10 s of the
   * stream's own review would still find the token valid. Streams are
   * checked again at 80% of the workload validity: with 16 s, at 12.8 s.
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

  it("ends a deleted ServiceAccount's streams with UNAUTHENTICATED, and signs no certificate for its token", async () => {
    await kubectlOk(["create", "serviceaccount", "-n", NS_ID, "doomed"]);
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS_ID, "doomed");
    const spiffeId = `spiffe://cluster.local/ns/${NS_ID}/sa/doomed`;
    const proxy = new SotwClient(address, { id: "sidecar~doomed" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });
      const first = await proxy.next(10_000);
      assert.equal(issuer(first).spiffeId, spiffeId);
      proxy.ack(first);
      assert.ok(Array.isArray(await askCertificate(address, token, spiffeId)), "signed while it exists");
      await kubectlOk(["delete", "serviceaccount", "-n", NS_ID, "doomed"]);
      // The periodic check reviews the token again; the API server no longer accepts it.
      const ended: StatusObject = await proxy.status;
      assert.equal(GrpcStatus[ended.code], "UNAUTHENTICATED", ended.details);
      // Each CSR has its token reviewed afresh: no certificate for a deleted ServiceAccount.
      assert.equal(await askCertificate(address, token, spiffeId), "UNAUTHENTICATED");
      // A new stream with the same token is refused too.
      const again = new SotwClient(address, { id: "sidecar~doomed" }, token);
      try {
        again.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });
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
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });
      return proxy;
    };
    const first = await connect(valid, 0);
    assert.ok(trustBundle(await first.next(10_000)));
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
      assert.ok(trustBundle(await second.next(10_000)));
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

  it("names the intermediate as the signer and only the root as ROOTCA; a CSR gets leaf plus intermediate", async () => {
    const token = await serviceAccountToken(controlPlane().kubeConfig(), NS_CM, "reviews");
    const address = `127.0.0.1:${xds.port}`;
    const proxy = new SotwClient(address, { id: "sidecar~cm" }, token);
    try {
      proxy.request({ typeUrl: SECRET_TYPE, resourceNames: ALL_SECRETS });
      const response = await proxy.next(10_000);
      assert.equal(trustBundle(response), rootPem);
      const { spiffeId, signerPem } = issuer(response);
      assert.equal(certificatePems(signerPem!).length, 1, "the intermediate alone, not the chain above it");
      const signer = new X509Certificate(signerPem!);
      assert.ok(signer.checkIssued(new X509Certificate(rootPem)));
      const chain = await askCertificate(address, token, spiffeId!);
      assert.ok(Array.isArray(chain), String(chain));
      const [leaf, intermediate] = chain.map((pem) => new X509Certificate(pem));
      assert.equal(chain.length, 2, "leaf and intermediate");
      assert.equal(leaf!.subjectAltName, `URI:spiffe://cluster.local/ns/${NS_CM}/sa/reviews`);
      assert.ok(leaf!.checkIssued(intermediate!));
      assert.equal(intermediate!.fingerprint256, signer.fingerprint256);
    } finally {
      proxy.close();
    }
  });
});
