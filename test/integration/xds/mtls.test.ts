import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createRootCa } from "../../../src/pki/root.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { startAgentWithCertificate, type RunningAgent } from "../../support/agent.js";
import {
  createMeshCa,
  freePort,
  hostAddress,
  markPodRunning,
  patchMeshCa,
} from "../../support/mesh-test-kit.js";
import {
  runXdsClient,
  startBackend,
  startXdsClient,
  type BackendHandle,
  type CallsResult,
} from "../../support/grpc/spawn.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "../kubectl.js";

/**
 * mTLS and authorization end to end, with proxyless gRPC on both sides:
 * xDS-enabled servers (grpc-js-xds XdsServer, RBAC on) and xDS clients, all
 * configured by Skiff's xDS server from PeerAuthentications and
 * AuthorizationPolicies in the real API server, with certificates that Skiff
 * issued to `skiff agent` after a TokenReview of each ServiceAccount's real
 * token, and that gRPC reads from the agent's files.
 *
 * - ratings-v1 (ServiceAccount ratings) serves two ports: the Service's grpc
 *   port under a STRICT PeerAuthentication, and grpc-admin with portLevelMtls
 *   DISABLE. Its ALLOW policy admits only the reviews ServiceAccount on the
 *   STRICT port, and anyone on the admin port.
 * - details-v1 (ServiceAccount details) is under the Mesh default,
 *   PERMISSIVE, which a gRPC server serves as plaintext.
 * - Clients: reviews and productpage with certificates, and plain gRPC
 *   clients that dial the server directly with no TLS at all.
 */
const NS = "e2e-mtls";
const XDS_SERVER_NAME = `skiff-xds.${NS}.svc`;
const MESH = "mtls-test";
const VALIDITY_MS = 6000;

const HOST = hostAddress();

const spiffe = (serviceAccount: string) => `spiffe://cluster.local/ns/${NS}/sa/${serviceAccount}`;

describe("mTLS and authorization with proxyless gRPC, on certificates Skiff issued", function () {
  this.timeout(180_000);
  let xds: RunningXdsServer;
  let directory: string;
  const agents = new Map<string, RunningAgent>();
  const backends: BackendHandle[] = [];
  let strictPort: number;
  let adminPort: number;
  let detailsPort: number;
  let rootPem: string;

  const meshRootsFile = () => join(directory, "mesh-roots.pem");

  /** Runs `skiff agent` for a ServiceAccount of NS and waits for its first certificate. */
  async function agentFor(serviceAccount: string, pod: string): Promise<RunningAgent> {
    const agent = await startAgentWithCertificate({
      kubeConfig: controlPlane().kubeConfig(),
      xdsAddress: `127.0.0.1:${xds.port}`,
      namespace: NS,
      serviceAccount,
      pod,
      host: HOST,
      directory,
      // Production's channel: TLS to the mesh root, the Pod's token; the application dials the agent.
      tls: { trustBundleFile: meshRootsFile(), serverName: XDS_SERVER_NAME },
    });
    agents.set(serviceAccount, agent);
    return agent;
  }

  const bootstrapOf = (serviceAccount: string): object =>
    JSON.parse(readFileSync(agents.get(serviceAccount)!.bootstrapFile, "utf8")) as object;

  /** Calls a Service through xDS as a mesh client with the ServiceAccount's certificate. */
  const meshCalls = (serviceAccount: string, target: string, calls = 20): Promise<CallsResult> =>
    runXdsClient({
      target: `xds:///${target}`,
      bootstrap: bootstrapOf(serviceAccount),
      credentials: "xds",
      mode: "calls",
      calls,
      concurrency: 5,
      waitForReadyMs: 5000,
    });
  /** Calls a server directly, in plaintext, as a client outside the mesh. */
  const plaintextCalls = (port: number, calls = 20): Promise<CallsResult> =>
    runXdsClient({
      target: `${HOST}:${port}`,
      mode: "calls",
      calls,
      concurrency: 5,
      deadlineMs: 3000,
      waitForReadyMs: 3000,
    });

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), "skiff-mtls-"));
    [strictPort, adminPort, detailsPort] = [await freePort(HOST), await freePort(HOST), await freePort(HOST)];
    await kubectlOk(["apply", "-f", "-"], objects(strictPort, adminPort, detailsPort));
    for (const pod of ["ratings-v1", "details-v1"]) await markPodRunning(NS, pod, HOST);
    rootPem = (await createMeshCa(NS)).certPem;
    // The mesh roots as the trust bundle ConfigMap gives them to a Pod: what each agent trusts the xDS server by.
    writeFileSync(meshRootsFile(), rootPem);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "tls", serverNames: [XDS_SERVER_NAME] },
      address: "127.0.0.1:0",
      caNamespace: NS,
      workloadValidityMs: VALIDITY_MS,
      logger: pino({ level: "warn" }),
    });
    await agentFor("ratings", "ratings-v1");
    await agentFor("details", "details-v1");
    await agentFor("reviews", "reviews-client");
    await agentFor("productpage", "productpage-client");
    const serve = (name: string, port: number, serviceAccount: string) =>
      startBackend(name, {
        address: `${HOST}:${port}`,
        xdsBootstrapFile: agents.get(serviceAccount)!.bootstrapFile,
        env: { GRPC_XDS_EXPERIMENTAL_RBAC: "true" },
        startTimeoutMs: 30_000,
      });
    backends.push(await serve("ratings", strictPort, "ratings"));
    backends.push(await serve("ratings-admin", adminPort, "ratings"));
    backends.push(await serve("details", detailsPort, "details"));
  });

  after(async () => {
    await Promise.all(backends.map((b) => b.stop()));
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await xds?.stop();
    await kubectl(["delete", "mesh", MESH]);
    await kubectl(["delete", "namespace", NS, "--wait=false"]);
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it("gives each agent its own ServiceAccount's SPIFFE certificate, chained to the mesh root", () => {
    for (const serviceAccount of ["ratings", "details", "reviews", "productpage"]) {
      const certificate = agents.get(serviceAccount)!.certificate()!;
      assert.equal(certificate.subjectAltName, `URI:${spiffe(serviceAccount)}`);
      const roots = readFileSync(join(agents.get(serviceAccount)!.certDir, "root-cert.pem"), "utf8");
      assert.ok(
        certificate.checkIssued(new X509Certificate(roots)),
        `${serviceAccount}: not issued by the root`,
      );
    }
  });

  it("STRICT: a mesh client gets through over mTLS, presenting its SPIFFE ID", async () => {
    const result = await meshCalls("reviews", `ratings.${NS}.svc.cluster.local:9090`);
    assert.deepEqual(result.byStatus, { OK: 20 }, JSON.stringify(result.errors));
    assert.deepEqual(result.byTransport, { [`tls ${spiffe("reviews")}`]: 20 });
  });

  it("STRICT: a plaintext client is refused", async () => {
    const result = await plaintextCalls(strictPort);
    assert.equal(result.byStatus.OK, undefined, JSON.stringify(result));
    assert.equal(result.byStatus.UNAVAILABLE, 20, JSON.stringify(result));
  });

  it("a principal-based ALLOW admits only the ServiceAccount it names", async () => {
    const denied = await meshCalls("productpage", `ratings.${NS}.svc.cluster.local:9090`);
    assert.deepEqual(denied.byStatus, { PERMISSION_DENIED: 20 }, JSON.stringify(denied.errors));
    // The same policy lets reviews in (previous test); the decision is per identity.
    const allowed = await meshCalls("reviews", `ratings.${NS}.svc.cluster.local:9090`, 5);
    assert.deepEqual(allowed.byStatus, { OK: 5 });
  });

  it("DISABLE on one port: plaintext in, from mesh and non-mesh clients alike", async () => {
    const mesh = await meshCalls("productpage", `ratings.${NS}.svc.cluster.local:9091`);
    assert.deepEqual(mesh.byStatus, { OK: 20 }, JSON.stringify(mesh.errors));
    assert.deepEqual(mesh.byTransport, { plaintext: 20 });
    const plain = await plaintextCalls(adminPort);
    assert.deepEqual(plain.byStatus, { OK: 20 }, JSON.stringify(plain.errors));
  });

  it("PERMISSIVE on a proxyless server: both mesh and plaintext clients get through (in plaintext)", async () => {
    const mesh = await meshCalls("reviews", `details.${NS}.svc.cluster.local:9080`);
    assert.deepEqual(mesh.byStatus, { OK: 20 }, JSON.stringify(mesh.errors));
    assert.deepEqual(mesh.byTransport, { plaintext: 20 });
    const plain = await plaintextCalls(detailsPort);
    assert.deepEqual(plain.byStatus, { OK: 20 }, JSON.stringify(plain.errors));
  });

  it("reports the AuthorizationPolicy and the PeerAuthentication Programmed once the proxyless servers run them", async () => {
    for (const kind of ["ap", "pa"])
      await eventually(async () => {
        const policy = JSON.parse(await kubectlOk(["get", kind, "ratings", "-n", NS, "-o", "json"]));
        const programmed = policy.status?.conditions?.find((c: { type: string }) => c.type === "Programmed");
        assert.equal(programmed?.status, "True", `${kind}: ${JSON.stringify(policy.status)}`);
        // Both server processes of ratings-v1 (one per port) enforce it.
        assert.match(programmed.message, /^All 2 proxies /, JSON.stringify(policy.status));
        assert.equal(policy.status?.workloads, 1);
      });
  });

  it("keeps serving over mTLS, as the same identity, across certificate rotations on both sides", async () => {
    const first = agents.get("reviews")!.certificate()!.serialNumber;
    const serverFirst = agents.get("ratings")!.certificate()!.serialNumber;
    // One channel, 200 calls one after another, 40 ms apart: about 9 s,
    // past at least one rotation of both sides (every 4.8 s at 6 s validity).
    const result = await runXdsClient({
      target: `xds:///ratings.${NS}.svc.cluster.local:9090`,
      bootstrap: bootstrapOf("reviews"),
      credentials: "xds",
      mode: "calls",
      calls: 200,
      concurrency: 1,
      waitForReadyMs: 5000,
      intervalMs: 40,
    });
    assert.deepEqual(result.byStatus, { OK: 200 }, JSON.stringify(result.errors));
    assert.deepEqual(result.byTransport, { [`tls ${spiffe("reviews")}`]: 200 });
    assert.notEqual(
      agents.get("reviews")!.certificate()!.serialNumber,
      first,
      "the client certificate rotated",
    );
    assert.notEqual(
      agents.get("ratings")!.certificate()!.serialNumber,
      serverFirst,
      "the server certificate rotated",
    );
  });

  it("rotates the root in the three documented steps while calls flow, with no restart", async () => {
    const next = await createRootCa({ trustDomain: "cluster.local", validityMs: 3600_000, now: new Date() });
    const roots = (serviceAccount: string) =>
      readFileSync(join(agents.get(serviceAccount)!.certDir, "root-cert.pem"), "utf8");
    const signedBy = (serviceAccount: string, pem: string) =>
      agents.get(serviceAccount)!.certificate()!.checkIssued(new X509Certificate(pem));
    const patchCa = (data: Record<string, string>) => patchMeshCa(NS, data);
    // gRPC re-reads the files every second; give it two before the next step relies on them.
    const settle = () => new Promise((r) => setTimeout(r, 2000));

    // One channel, calling all along: about 18 s of calls, 45 ms apart.
    const run = startXdsClient({
      target: `xds:///ratings.${NS}.svc.cluster.local:9090`,
      bootstrap: bootstrapOf("reviews"),
      credentials: "xds",
      mode: "calls",
      calls: 400,
      concurrency: 1,
      waitForReadyMs: 5000,
      intervalMs: 40,
    });
    assert.ok((await run.ready).ready);

    // 1. Add the new root to the trust bundle: every proxy trusts both; certificates do not change.
    const before = agents.get("ratings")!.certificate()!.serialNumber;
    await patchCa({ "ca.crt": rootPem + next.certPem });
    // The operator copies ca.crt into each namespace's trust bundle, which the kubelet updates in the Pod.
    writeFileSync(meshRootsFile(), `${rootPem.trim()}\n${next.certPem.trim()}\n`);
    for (const sa of ["reviews", "ratings"])
      await eventually(async () => assert.equal(roots(sa), rootPem + next.certPem));
    assert.ok(signedBy("ratings", rootPem), "still signed by the old root after step 1");
    await settle();

    // 2. Sign with the new root: every certificate is re-issued now, not at 80% of its life.
    await patchCa({ "tls.crt": next.certPem, "tls.key": next.keyPem });
    for (const sa of ["reviews", "ratings"])
      await eventually(async () => assert.ok(signedBy(sa, next.certPem), `${sa}: not yet re-issued`), 5000);
    assert.notEqual(agents.get("ratings")!.certificate()!.serialNumber, before);
    await settle();

    // 3. Remove the old root.
    await patchCa({ "ca.crt": next.certPem });
    writeFileSync(meshRootsFile(), next.certPem);
    for (const sa of ["reviews", "ratings"])
      await eventually(async () => assert.equal(roots(sa), next.certPem));
    await settle();

    const result = await run.result;
    assert.deepEqual(result.byStatus, { OK: 400 }, JSON.stringify(result.errors));
    assert.deepEqual(result.byTransport, { [`tls ${spiffe("reviews")}`]: 400 });
    // A new connection after the rotation works too: only the new root is trusted now.
    const fresh = await meshCalls("reviews", `ratings.${NS}.svc.cluster.local:9090`, 5);
    assert.deepEqual(fresh.byStatus, { OK: 5 }, JSON.stringify(fresh.errors));
  });
});

function objects(strictPort: number, adminPort: number, detailsPort: number): string {
  const pod = (name: string, app: string, serviceAccount: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${NS}
  labels: { app: ${app} }
  annotations: { proxy.skiff.dev/proxyless: "true" }
spec: { serviceAccountName: ${serviceAccount}, containers: [{ name: app, image: ${app} }] }
`;
  return `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: ${MESH} }
---
apiVersion: v1
kind: Namespace
metadata: { name: ${NS}, labels: { skiff.dev/injection: enabled } }
---
${["ratings", "details", "reviews", "productpage"]
  .map((sa) => `apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: ${sa}, namespace: ${NS} }\n`)
  .join("---\n")}---
${pod("ratings-v1", "ratings", "ratings")}---
${pod("details-v1", "details", "details")}---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: ${NS} }
spec:
  selector: { app: ratings }
  ports:
    - { name: grpc, port: 9090, targetPort: ${strictPort} }
    - { name: grpc-admin, port: 9091, targetPort: ${adminPort} }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ratings-1, namespace: ${NS}, labels: { kubernetes.io/service-name: ratings } }
addressType: IPv4
ports: [{ name: grpc, port: ${strictPort}, protocol: TCP }, { name: grpc-admin, port: ${adminPort}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
    targetRef: { kind: Pod, name: ratings-v1, namespace: ${NS} }
---
apiVersion: v1
kind: Service
metadata: { name: details, namespace: ${NS} }
spec:
  selector: { app: details }
  ports: [{ name: grpc, port: 9080, targetPort: ${detailsPort} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: details-1, namespace: ${NS}, labels: { kubernetes.io/service-name: details } }
addressType: IPv4
ports: [{ name: grpc, port: ${detailsPort}, protocol: TCP }]
endpoints:
  - addresses: [${HOST}]
    conditions: { ready: true }
    targetRef: { kind: Pod, name: details-v1, namespace: ${NS} }
---
apiVersion: skiff.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: ratings, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: ratings } }
  mtls: { mode: STRICT }
  portLevelMtls:
    "${adminPort}": { mode: DISABLE }
---
apiVersion: skiff.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ratings, namespace: ${NS} }
spec:
  selector: { matchLabels: { app: ratings } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/${NS}/sa/reviews] } }]
      to: [{ operation: { ports: ["${strictPort}"] } }]
    - to: [{ operation: { ports: ["${adminPort}"] } }]
`;
}
