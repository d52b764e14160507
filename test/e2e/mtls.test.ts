import assert from "node:assert/strict";
import { INJECT_ANNOTATION } from "../../src/mesh/annotations.js";
import {
  apply,
  clientPod,
  curl,
  deleteNamespace,
  exec,
  fortioDeployment,
  meshNamespace,
  service,
  skipUnlessSupported,
  waitPodsReady,
} from "./kit.js";
import { readUntil, waitForEndpointCounts } from "./envoy-admin.js";

/**
 * mTLS between real Envoy sidecars, with certificates that each Pod's
 * skiff agent got by CSR for a key it made, served to Envoy over SDS. The
 * server's application learns the caller's SPIFFE ID from
 * x-forwarded-client-cert, which no caller can forge; PERMISSIVE takes
 * plaintext callers too; STRICT refuses every one of them, and still takes
 * the mesh.
 */
const NS = "e2e-mtls";
const URL = "http://web:8080/debug";
const CALLER = `spiffe://cluster.local/ns/${NS}/sa/default`;
const FORGED = "URI=spiffe://cluster.local/ns/kube-system/sa/admin";

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
async function plaintextStatus(): Promise<string> {
  const result = await exec(NS, "outsider", [
    "curl",
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-m",
    "5",
    URL,
  ]);
  return result.stdout.trim();
}

/** web without its readiness probe: under STRICT, the kubelet's plaintext probe would be refused. */
function web(): object {
  const deployment = fortioDeployment(NS, "web") as {
    spec: { template: { spec: { containers: { readinessProbe?: object }[] } } };
  };
  delete deployment.spec.template.spec.containers[0]!.readinessProbe;
  return deployment;
}

describe("mTLS between Envoy sidecars, on certificates whose keys never left their Pods", function () {
  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([
      web(),
      service(NS, "web", [{ name: "http", port: 8080 }]),
      clientPod(NS),
      clientPod(NS, "outsider", { [INJECT_ANNOTATION]: "false" }),
    ]);
    await waitPodsReady(NS, 3);
    // web's endpoint has reached the client's sidecar: its first request has somewhere to go.
    await waitForEndpointCounts(NS, "client", { [`outbound|8080||web.${NS}.svc.cluster.local`]: 1 });
  });
  after(() => deleteNamespace(NS));

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

  it("STRICT: every plaintext request is refused, and the mesh caller still gets through", async () => {
    await apply([
      {
        apiVersion: "skiff.dev/v1alpha1",
        kind: "PeerAuthentication",
        metadata: { name: "default", namespace: NS },
        spec: { mtls: { mode: "STRICT" } },
      },
    ]);
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
});
