import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INJECT_ANNOTATION, PROXY_CONFIG_ANNOTATION } from "../../src/mesh/annotations.js";
import { x509 } from "../../src/pki/crypto.js";
import { createSelfSignedCa, issueLeaf, signingCaFromPem, type SigningCa } from "../../src/pki/issue.js";
import { withFinalNewline } from "../../src/pki/pem.js";
import { createRootCa } from "../../src/pki/root.js";
import {
  answeringPod,
  apply,
  clientPod,
  condition,
  curl,
  deleteNamespace,
  exec,
  FORTIO_IMAGE,
  fortioDeployment,
  log,
  meshCluster,
  meshNamespace,
  podByPrefix,
  programTrafficPolicy,
  rest,
  service,
  skipUnlessSupported,
  waitFor,
  waitPodsReady,
} from "./kit.js";
import { envoyStat, readUntil, statDeltas, waitForEndpointCounts } from "./envoy-admin.js";
import { startFortioLoad } from "./load.js";
import {
  certsInUse,
  heldSecrets,
  issuedBy,
  patchMeshCa,
  readMeshCa,
  serial,
  type HeldSecrets,
} from "./sidecar-certs.js";

/**
 * mTLS between real Envoy sidecars, with certificates that each Pod's
 * skiff agent got by CSR for a key it made, served to Envoy over SDS. The
 * server's application learns the caller's SPIFFE ID from
 * x-forwarded-client-cert, which no caller can forge; PERMISSIVE takes
 * plaintext callers too; STRICT refuses every one of them, and still takes
 * the mesh; DISABLE takes everyone in plaintext, and port-level modes hold
 * per port. A client certificate of another CA or trust domain fails the
 * handshake, and the mesh's root rotates under load with no request lost.
 *
 * The tests run in order, each from the policies the one before left.
 */
const NS = "e2e-mtls";
const URL = "http://web:8080/debug";
/** web's second HTTP port (a second fortio in the Pod), for port-level modes. */
const ALT_URL = "http://web:8081/debug";
const CALLER = `spiffe://cluster.local/ns/${NS}/sa/default`;
const FORGED = "URI=spiffe://cluster.local/ns/kube-system/sa/admin";
/**
 * web's and the client's sidecars ask for 20-second certificates (Istio's
 * SECRET_TTL, by proxyMetadata), so their agents renew them every 16 s, all
 * through the file: leaf rotation happens under every test here.
 */
const SHORT_LIVED = { [PROXY_CONFIG_ANNOTATION]: "proxyMetadata: { SECRET_TTL: 20s }" };
/** The client sidecar's cluster for web:8080. */
const WEB_CLUSTER = `outbound|8080||web.${NS}.svc.cluster.local`;
/** The label of the Service `mixed`: web (a sidecar) and legacy (none) both serve it. */
const MIXED = { tier: "mixed" };

/**
 * The caller's SPIFFE ID in x-forwarded-client-cert, which fortio's /debug
 * echoes with the other request headers: Envoy writes `By=<server's
 * URI>;Hash=<certificate hash>;URI=<caller's URI>`.
 */
const forwardedClientCert = (body: string) => {
  const value = /^X-Forwarded-Client-Cert: (.*)$/im.exec(body)?.[1]?.trim();
  return value === undefined ? undefined : /(?:^|;)URI=([^;,]*)/.exec(value)?.[1];
};

/** The HTTP status the outsider (no sidecar) gets, in plaintext, as curl writes it. */
async function plaintextStatus(url = URL): Promise<string> {
  const result = await exec(NS, "outsider", [
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-m",
    "5",
    url,
  ]);
  return result.stdout.trim();
}

/**
 * One request from a Pod, as the tests compare it: `<status> <caller's
 * SPIFFE ID as the application saw it>`, "refused" when no HTTP answer came.
 */
async function answer(pod: string, url: string, args: string[] = []): Promise<string> {
  const [result] = await curl(NS, pod, url, { args });
  if (!result!.status) return "refused";
  return `${result!.status} ${forwardedClientCert(result!.body) ?? "no XFCC"}`;
}

/**
 * web without its readiness probe (under STRICT, the kubelet's plaintext
 * probe would be refused), and with a second fortio serving HTTP on 8081.
 */
function web(): object {
  const deployment = fortioDeployment(NS, "web", { annotations: SHORT_LIVED, labels: MIXED }) as {
    spec: { template: { spec: { containers: { readinessProbe?: object }[] } } };
  };
  const containers = deployment.spec.template.spec.containers;
  delete containers[0]!.readinessProbe;
  containers.push({
    name: "alt",
    image: FORTIO_IMAGE,
    // Its other servers off: they would take the first fortio's ports.
    args: [
      "server",
      "-http-port",
      "8081",
      ...["-grpc-port", "-redirect-port", "-tcp-port", "-udp-port"].flatMap((f) => [f, "disabled"]),
    ],
    ports: [{ name: "http-alt", containerPort: 8081 }],
  } as never);
  return deployment;
}

function peerAuthentication(name: string, spec: object): object {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "PeerAuthentication",
    metadata: { name, namespace: NS },
    spec,
  };
}

/** A leaf certificate naming `spiffeId` as a workload's (usable for both ends of TLS), from `ca`. */
function workloadLeaf(ca: SigningCa, spiffeId: string) {
  return issueLeaf(ca, {
    subject: "",
    usage: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    sans: [{ type: "url", value: spiffeId }],
    criticalSans: true,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3600_000),
  });
}

describe("mTLS between Envoy sidecars, on certificates whose keys never left their Pods", function () {
  let files: string;
  before(async function () {
    skipUnlessSupported(this);
    files = await mkdtemp(join(tmpdir(), "skiff-e2e-mtls-"));
    await meshNamespace(NS);
    await apply([
      web(),
      service(NS, "web", [
        { name: "http", port: 8080 },
        { name: "http-alt", port: 8081 },
      ]),
      clientPod(NS, "client", SHORT_LIVED),
      clientPod(NS, "outsider", { [INJECT_ANNOTATION]: "false" }),
      fortioDeployment(NS, "legacy", { labels: MIXED, annotations: { [INJECT_ANNOTATION]: "false" } }),
      service(NS, "mixed", [{ name: "http", port: 8080 }], MIXED),
    ]);
    await waitPodsReady(NS, 4);
    // web's endpoints have reached the client's sidecar: its first requests have somewhere to go.
    await waitForEndpointCounts(NS, "client", {
      [WEB_CLUSTER]: 1,
      [`outbound|8081||web.${NS}.svc.cluster.local`]: 1,
      [`outbound|8080||mixed.${NS}.svc.cluster.local`]: 2,
    });
    // The outsider has no sidecar: it reaches web through kube-proxy, whose rules can come a moment later.
    await readUntil("kube-proxy to send the outsider to web", plaintextStatus, (status) => status === "200", {
      timeoutMs: 60_000,
    });
  });
  after(async () => {
    await deleteNamespace(NS);
    if (files) await rm(files, { recursive: true, force: true });
  });

  /**
   * An outsider's HTTPS request straight to web's Pod on 8080, presenting
   * `leaf` as its client certificate (curl -k: the server's certificate
   * names no host).
   */
  async function withClientCertificate(name: string, leaf: { certPem: string; keyPem: string }) {
    const cert = join(files, `${name}.crt`);
    const key = join(files, `${name}.key`);
    await writeFile(cert, leaf.certPem);
    await writeFile(key, leaf.keyPem);
    const webIp = (await podByPrefix(NS, "web-")).status!.podIP!;
    return answer("outsider", `https://${webIp}:8080/debug`, ["-k", "--cert", cert, "--key", key]);
  }

  it("PERMISSIVE: the application sees the mesh caller's SPIFFE ID, and a forged one never", async () => {
    const [meshed] = await curl(NS, "client", URL, { args: ["-H", `x-forwarded-client-cert: ${FORGED}`] });
    assert.equal(meshed!.status, 200, JSON.stringify(meshed));
    assert.equal(forwardedClientCert(meshed!.body), CALLER, meshed!.body);
    // A caller outside the mesh gets through in plaintext, and cannot claim an identity.
    const [outsider] = await curl(NS, "outsider", URL, {
      args: ["-H", `x-forwarded-client-cert: ${FORGED}`],
    });
    assert.equal(outsider!.status, 200, JSON.stringify(outsider));
    assert.equal(forwardedClientCert(outsider!.body), undefined, outsider!.body);
  });

  it("auto mTLS, per endpoint: the client's sidecar speaks mTLS to the Pod with a sidecar, plaintext to the one without", async () => {
    const responses = await curl(NS, "client", "http://mixed:8080/debug", { count: 16 });
    assert.deepEqual(
      responses.map((r) => r.status),
      responses.map(() => 200),
    );
    // Each answering Pod, with the caller identities its application saw.
    const seen = new Map<string, Set<string>>();
    for (const r of responses) {
      const pod = answeringPod(r.body)!.replace(/-[a-z0-9]+-[a-z0-9]+$/, "");
      seen.set(pod, (seen.get(pod) ?? new Set()).add(forwardedClientCert(r.body) ?? "(plaintext)"));
    }
    assert.deepEqual(
      seen,
      new Map([
        ["legacy", new Set(["(plaintext)"])],
        ["web", new Set([CALLER])],
      ]),
    );
  });

  it("STRICT: every plaintext request is refused, and the mesh caller still gets through", async () => {
    await apply([peerAuthentication("default", { mtls: { mode: "STRICT" } })]);
    // A PeerAuthentication has no Programmed condition: STRICT is in force once web's sidecar refuses plaintext.
    await readUntil("web's sidecar to refuse plaintext", plaintextStatus, (status) => status === "000", {
      timeoutMs: 60_000,
    });
    const refused: string[] = [];
    for (let i = 0; i < 5; i++) refused.push(await plaintextStatus());
    // curl writes 000 when the connection ends with no HTTP answer.
    assert.deepEqual(refused, ["000", "000", "000", "000", "000"]);
    const meshed = await curl(NS, "client", URL, { count: 5 });
    assert.deepEqual(
      meshed.map((r) => [r.status, forwardedClientCert(r.body)]),
      Array.from({ length: 5 }, () => [200, CALLER]),
    );
  });

  it("DISABLE: the mesh caller's request arrives in plaintext, and an outsider gets through", async () => {
    await apply([peerAuthentication("default", { mtls: { mode: "DISABLE" } })]);
    await readUntil("web's sidecar to take plaintext", plaintextStatus, (status) => status === "200");
    // The client sends plaintext once web's endpoint no longer says it takes mTLS; until then its
    // TLS would reach the application, which answers no TLS.
    await readUntil(
      "the client's requests to arrive in plaintext",
      () => answer("client", URL),
      (a) => a === "200 no XFCC",
    );
    assert.deepEqual(
      { client: await answer("client", URL), outsider: await answer("outsider", URL) },
      { client: "200 no XFCC", outsider: "200 no XFCC" },
    );

    // The Mesh's default decides where no PeerAuthentication does (UNSET inherits it): PERMISSIVE
    // first, so that DISABLE is seen to come from the Mesh. The Mesh is the whole cluster's: put back.
    const meshPath = "/apis/skiff.dev/v1alpha1/meshes/default";
    const meshDefault = async (mtlsMode: string | null) =>
      rest().request("PATCH", meshPath, {
        body: { spec: { defaults: { mtlsMode } } },
        contentType: "application/merge-patch+json",
      });
    const { spec } = await rest().request<{ spec?: { defaults?: { mtlsMode?: string } } }>("GET", meshPath);
    await apply([peerAuthentication("default", { mtls: { mode: "UNSET" } })]);
    await meshDefault("PERMISSIVE");
    try {
      await readUntil(
        "the Mesh's PERMISSIVE in force",
        () => answer("client", URL),
        (a) => a === `200 ${CALLER}`,
      );
      await meshDefault("DISABLE");
      await readUntil(
        "the Mesh's DISABLE in force",
        () => answer("client", URL),
        (a) => a === "200 no XFCC",
      );
      assert.deepEqual(
        { client: await answer("client", URL), outsider: await answer("outsider", URL) },
        { client: "200 no XFCC", outsider: "200 no XFCC" },
      );
    } finally {
      await meshDefault(spec?.defaults?.mtlsMode ?? null);
    }
  });

  it("port level: STRICT on one port and DISABLE on another of the same workload, for mesh and outsider alike", async () => {
    await apply([
      peerAuthentication("web", {
        selector: { matchLabels: { app: "web" } },
        mtls: { mode: "STRICT" },
        portLevelMtls: { "8081": { mode: "DISABLE" } },
      }),
    ]);
    // From PERMISSIVE on both ports (the test before put the Mesh's default back).
    const answers = async () => ({
      "8080 client": await answer("client", URL),
      "8080 outsider": await answer("outsider", URL),
      "8081 client": await answer("client", ALT_URL),
      "8081 outsider": await answer("outsider", ALT_URL),
    });
    const expected = {
      "8080 client": `200 ${CALLER}`,
      "8080 outsider": "refused",
      "8081 client": "200 no XFCC",
      "8081 outsider": "200 no XFCC",
    };
    await readUntil(
      "both ports' modes in force",
      answers,
      (seen) => JSON.stringify(seen) === JSON.stringify(expected),
    );
    // And they stay so.
    assert.deepEqual(await answers(), expected);
  });

  /**
   * web's 8080 is STRICT (the test before). The outsider dials it over TLS
   * with a client certificate of its own making: only one from the mesh's CA
   * that names the mesh's trust domain gets through. Envoy's listener
   * counts why it refused the others: fail_verify_error (no chain to a
   * trusted root), fail_verify_san (the SPIFFE ID is not of the trust domain).
   */
  it("refuses a client certificate of another CA, or of another trust domain, in the TLS handshake", async () => {
    const ca = await readMeshCa();
    const meshCa = await signingCaFromPem({ certPem: ca["tls.crt"]!, keyPem: ca["tls.key"]! });
    const now = Date.now();
    const otherCa = await createSelfSignedCa(
      "O=other.domain,CN=Another root",
      new Date(now - 60_000),
      new Date(now + 3600_000),
    );
    const outsiderId = `spiffe://cluster.local/ns/${NS}/sa/outsider`;
    const leaves = {
      "mesh CA, cluster.local": await workloadLeaf(meshCa, outsiderId),
      // Another CA claiming the client's identity.
      "other CA, cluster.local": await workloadLeaf(otherCa, CALLER),
      "other CA, other.domain": await workloadLeaf(otherCa, `spiffe://other.domain/ns/${NS}/sa/default`),
      // The mesh's own CA, but another trust domain: refused only since the inbound checks the SPIFFE ID's trust domain.
      "mesh CA, other.domain": await workloadLeaf(meshCa, `spiffe://other.domain/ns/${NS}/sa/default`),
    };
    const seen: Record<string, unknown> = {};
    for (const [name, leaf] of Object.entries(leaves)) {
      const { result, deltas } = await statDeltas(
        NS,
        {
          [(await podByPrefix(NS, "web-")).metadata.name]: [
            "*.ssl.fail_verify_error",
            "*.ssl.fail_verify_san",
          ],
        },
        () => withClientCertificate(name.replace(/\W+/g, "-"), leaf),
      );
      const [verifyError, verifySan] = Object.values(deltas);
      seen[name] = { answer: result, fail_verify_error: verifyError, fail_verify_san: verifySan };
    }
    assert.deepEqual(seen, {
      "mesh CA, cluster.local": { answer: `200 ${outsiderId}`, fail_verify_error: 0, fail_verify_san: 0 },
      "other CA, cluster.local": { answer: "refused", fail_verify_error: 1, fail_verify_san: 0 },
      "other CA, other.domain": { answer: "refused", fail_verify_error: 1, fail_verify_san: 0 },
      "mesh CA, other.domain": { answer: "refused", fail_verify_error: 0, fail_verify_san: 1 },
    });
  });

  /**
   * Leaf renewal, then the three documented steps of a root rotation
   * (ARCHITECTURE.md, "Staged root rotation") on the cluster's mesh CA
   * Secret, under a load from the client through both sidecars to web's
   * STRICT 8080, every request on a connection of its own
   * (maxRequestsPerConnection: 1), so every one makes a fresh mTLS
   * handshake against whatever both sidecars hold at that moment. Each step
   * waits until both Envoys hold its state. Leaves rotate twice: renewed
   * at 80% of SECRET_TTL, and re-issued in step 2 (a new signer: each agent
   * asks at once). The cluster keeps the new root: nothing after this file
   * reads the old one.
   */
  it("renews both leaves and rotates the root in three steps under load, losing no request", async () => {
    const webPod = (await podByPrefix(NS, "web-")).metadata.name;
    const sidecars = ["client", webPod];
    const ca = await readMeshCa();
    const oldRoots = withFinalNewline(ca["ca.crt"] ?? ca["tls.crt"]!);
    const oldSigner = new X509Certificate(ca["tls.crt"]!);
    const next = await createRootCa({
      trustDomain: "cluster.local",
      validityMs: 87_600 * 3600_000,
      now: new Date(),
    });
    const nextRoot = new X509Certificate(next.certPem);
    const before = Object.fromEntries(
      await Promise.all(sidecars.map(async (pod) => [pod, (await heldSecrets(NS, pod)).leaf] as const)),
    );
    const bothHold = (what: string, holds: (held: HeldSecrets, pod: string) => boolean) =>
      Promise.all(
        sidecars.map((pod) =>
          readUntil(
            `${pod}'s Envoy to hold ${what}`,
            () => heldSecrets(NS, pod),
            (held) => holds(held, pod),
            {
              show: (held) => ({
                leaf: held.leaf.serialNumber,
                issuer: held.leaf.issuer,
                roots: held.roots.map((r) => r.serialNumber),
              }),
            },
          ),
        ),
      );
    const handshakes = () =>
      envoyStat(NS, "client", `cluster.${WEB_CLUSTER}.ssl.handshake`).then((n) => n ?? 0);
    const requests = () =>
      envoyStat(NS, "client", `cluster.${WEB_CLUSTER}.upstream_rq_total`).then((n) => n ?? 0);
    const flowing = async (count: number) => {
      const from = await requests();
      await readUntil(`${count} more requests from the client to web`, requests, (n) => n >= from + count);
    };

    await programTrafficPolicy(NS, "web", { connectionPool: { http: { maxRequestsPerConnection: 1 } } });
    // 20 requests a second on 2 connections at a time; -t only bounds a run whose stop never comes.
    const load = await startFortioLoad(NS, "client", [
      "-qps",
      "20",
      "-c",
      "2",
      "-t",
      "3m",
      "http://web:8080/echo",
    ]);
    let failed: unknown;
    let handshakesAfterStep3 = 0;
    let renewed: Record<string, X509Certificate> = {};
    const started = Date.now();
    try {
      await flowing(10);
      // 0. Leaf rotation: each agent renews its certificate at 80% of its SECRET_TTL, from the same root.
      renewed = Object.fromEntries(
        (
          await bothHold(
            "a renewed leaf",
            (held, pod) =>
              held.leaf.serialNumber !== before[pod]!.serialNumber && issuedBy(held.leaf, oldSigner),
          )
        ).map((held, i) => [sidecars[i]!, held.leaf]),
      );
      await flowing(10);
      // 1. Trust the new root beside the old one; the old still signs (renewals go on).
      await patchMeshCa({ "ca.crt": oldRoots + next.certPem });
      await bothHold(
        "both roots",
        (held) => held.roots.some((r) => r.serialNumber === nextRoot.serialNumber) && held.roots.length === 2,
      );
      await flowing(10);
      // 2. Sign with the new root: every agent asks for a new certificate now.
      await patchMeshCa({ "tls.crt": next.certPem, "tls.key": next.keyPem });
      await bothHold("a leaf from the new root", (held) => issuedBy(held.leaf, nextRoot));
      await flowing(10);
      // 3. Trust only the new root.
      await patchMeshCa({ "ca.crt": next.certPem });
      await bothHold(
        "only the new root",
        (held) => held.roots.length === 1 && held.roots[0]!.serialNumber === nextRoot.serialNumber,
      );
      // Fresh connections (one per request) after step 3, under the new root alone.
      const from = await handshakes();
      await flowing(20);
      handshakesAfterStep3 = (await handshakes()) - from;
    } catch (error) {
      failed = error;
    }
    const result = await load.stop();
    if (failed) throw failed;
    const total = result.DurationHistogram.Count;
    log(
      `rotation under load: ${total} requests in ${Date.now() - started} ms, codes ${JSON.stringify(result.RetCodes)}`,
    );
    assert.deepEqual(result.RetCodes, { "200": total });
    assert.equal(result.ErrorsDurationHistogram?.Count ?? 0, 0);
    assert.ok(handshakesAfterStep3 >= 20, `${handshakesAfterStep3} handshakes after step 3`);

    // Both leaves changed, chain to the new root, and every TLS context uses them with the new root alone.
    for (const pod of sidecars) {
      const held = await heldSecrets(NS, pod);
      assert.ok(
        renewed[pod] && renewed[pod].serialNumber !== before[pod]!.serialNumber,
        `${pod} renewed its leaf`,
      );
      assert.notEqual(held.leaf.serialNumber, renewed[pod].serialNumber, `${pod}'s leaf after step 2`);
      assert.ok(issuedBy(before[pod]!, oldSigner), `${pod}'s first leaf was the old root's`);
      assert.ok(issuedBy(held.leaf, nextRoot), `${pod}'s leaf chains to the new root`);
      const inUse = await certsInUse(NS, pod);
      assert.ok(inUse.contexts > 0, `${pod} has TLS contexts`);
      assert.deepEqual(
        { leaves: inUse.leaves, cas: inUse.cas },
        { leaves: [serial(held.leaf.serialNumber)], cas: [serial(nextRoot.serialNumber)] },
        pod,
      );
    }
    // web's sidecar now refuses a client certificate from the old root, and takes one from the new.
    const oldCa = await signingCaFromPem({ certPem: ca["tls.crt"]!, keyPem: ca["tls.key"]! });
    const newCa = await signingCaFromPem(next);
    const outsiderId = `spiffe://cluster.local/ns/${NS}/sa/outsider`;
    assert.deepEqual(
      {
        old: await withClientCertificate("old-root", await workloadLeaf(oldCa, outsiderId)),
        new: await withClientCertificate("new-root", await workloadLeaf(newCa, outsiderId)),
      },
      { old: "refused", new: `200 ${outsiderId}` },
    );
    // The operator takes the rotated Secret: the Mesh records the new root and stays Ready.
    await waitFor(meshCluster().kubeConfig, "skiff.dev/v1alpha1", "Mesh", undefined, (meshes) =>
      meshes.some(
        (m) =>
          condition(m, "Ready") === "True" &&
          (m as { status?: { certificateAuthority?: { fingerprintSHA256?: string } } }).status
            ?.certificateAuthority?.fingerprintSHA256 === nextRoot.fingerprint256,
      ),
    );
  });
});
