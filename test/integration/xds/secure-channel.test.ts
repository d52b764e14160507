import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import { credentials, status as GrpcStatus, type ChannelCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { createRootCa } from "../../../src/pki/root.js";
import { CLUSTER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { OWN_CONNECTION, SotwClient } from "../../support/ads-client.js";
import { createMeshCa, patchMeshCa, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectlOk } from "../kubectl.js";

/**
 * The xDS server in its production mode (`security: tls`): TLS with a
 * certificate from the mesh CA for the names proxies dial, and no stream
 * served without a valid token. Workload private keys and tokens travel on
 * this channel, so a client must be able to tell it is Skiff's, and Skiff
 * must be able to tell who the client is.
 */
const NS = "secure-channel";
const SERVER_NAME = `skiff-xds.${NS}.svc`;
const POD = "reviews-v1";
const NODE = { id: `sidecar~10.0.0.9~${POD}.${NS}~${NS}.svc.cluster.local` };

/** PEMs one after another; createRootCa's end with no newline, and OpenSSL reads no certificate glued to another. */
const bundle = (...pems: string[]) => pems.map((pem) => pem.trim()).join("\n") + "\n";

describe("the xDS channel: TLS from the mesh CA, a token on every stream", function () {
  this.timeout(60_000);
  let xds: RunningXdsServer;
  let address: string;
  let rootPem: string;
  let token: string;
  const trusting = (pem: string): ChannelCredentials => credentials.createSsl(Buffer.from(pem));
  const dialing = { ...OWN_CONNECTION, "grpc.ssl_target_name_override": SERVER_NAME };
  const open = (channel: ChannelCredentials, credential?: string) => {
    const proxy = new SotwClient(address, NODE, credential, dialing, channel);
    proxy.request({ typeUrl: CLUSTER_TYPE });
    return proxy;
  };
  /** The certificate a TLS client is shown when it dials the server by name. */
  const servedCertificate = () =>
    new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect(
        {
          host: "127.0.0.1",
          port: xds.port,
          servername: SERVER_NAME,
          ALPNProtocols: ["h2"],
          rejectUnauthorized: false,
        },
        () => {
          const der = socket.getPeerX509Certificate();
          socket.destroy();
          if (der) resolve(der);
          else reject(new Error("no certificate"));
        },
      );
      socket.once("error", reject);
    });

  before(async () => {
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(["create", "serviceaccount", "-n", NS, "reviews"]);
    rootPem = (await createMeshCa(NS)).certPem;
    token = await serviceAccountToken(controlPlane().kubeConfig(), NS, "reviews", "skiff", POD);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "tls", serverNames: [SERVER_NAME, "skiff-xds"] },
      address: "127.0.0.1:0",
      logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
      caNamespace: NS,
    });
    address = `127.0.0.1:${xds.port}`;
  });

  after(async () => {
    await xds?.stop();
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("serves a proxy that trusts the mesh root and sends its Pod's token", async () => {
    const proxy = open(trusting(rootPem), token);
    try {
      const response = await proxy.next(10_000);
      assert.equal(response.typeUrl, CLUSTER_TYPE);
    } finally {
      proxy.close();
    }
  });

  it("shows a certificate from the mesh CA that names the Service, for serverAuth only", async () => {
    const served = await servedCertificate();
    assert.ok(served.checkIssued(new X509Certificate(rootPem)), "issued by the mesh root");
    assert.ok(served.verify(new X509Certificate(rootPem).publicKey));
    assert.equal(served.subjectAltName, `DNS:${SERVER_NAME}, DNS:skiff-xds`);
    assert.ok(Date.parse(served.validTo) - Date.now() <= 24 * 3600_000 + 60_000, "a day at most");
  });

  it("refuses a stream without a token with UNAUTHENTICATED, and gives it nothing", async () => {
    const anonymous = open(trusting(rootPem));
    try {
      const status = await anonymous.status;
      assert.equal(status.code, GrpcStatus.UNAUTHENTICATED, status.details);
      assert.match(status.details, /no token/);
    } finally {
      anonymous.close();
    }
  });

  it("speaks no plaintext, and a client that trusts another root never sends its token", async () => {
    const stranger = await createRootCa({ trustDomain: "elsewhere", validityMs: 3600_000, now: new Date() });
    for (const [what, channel] of [
      ["plaintext", credentials.createInsecure()],
      ["another root", trusting(stranger.certPem)],
    ] as const) {
      const proxy = new SotwClient(
        address,
        NODE,
        token,
        { ...dialing, "grpc.max_reconnect_backoff_ms": 100 },
        channel,
      );
      proxy.request({ typeUrl: CLUSTER_TYPE });
      try {
        // grpc-js fails the call once the connection attempt fails (no wait-for-ready).
        const status = await proxy.status;
        assert.equal(status.code, GrpcStatus.UNAVAILABLE, `${what}: ${status.details}`);
      } finally {
        proxy.close();
      }
    }
  });

  it("serves a certificate from the new signer as soon as the CA Secret names one, with no restart", async () => {
    const before = await servedCertificate();
    const next = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
    // Steps 1 and 2 of a root rotation at once: both roots trusted, the new one signing.
    const data = { "tls.crt": next.certPem, "tls.key": next.keyPem, "ca.crt": bundle(rootPem, next.certPem) };
    await patchMeshCa(NS, data);
    const after = await eventually(async () => {
      const served = await servedCertificate();
      assert.notEqual(served.serialNumber, before.serialNumber, "still the first certificate");
      return served;
    });
    assert.ok(after.checkIssued(new X509Certificate(next.certPem)), "issued by the new signer");
    // A proxy that trusts both roots (the bundle it was sent) keeps being served.
    const proxy = open(trusting(bundle(rootPem, next.certPem)), token);
    try {
      assert.equal((await proxy.next(10_000)).typeUrl, CLUSTER_TYPE);
    } finally {
      proxy.close();
    }
  });
});
