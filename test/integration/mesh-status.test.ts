import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { pino } from "pino";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { Mesh } from "../../src/api/v1alpha1/generated/mesh.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { startMeshController, type RunningController } from "../../src/controllers/mesh/controller.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { registry } from "../../src/observability/metrics.js";
import { createRootCa } from "../../src/pki/root.js";
import { LISTENER_TYPE } from "../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../src/xds/xds-server.js";
import { OWN_CONNECTION, SotwClient } from "../support/ads-client.js";
import { eventually } from "./kubectl.js";

/**
 * The Mesh's status has two writers, each owning its fields by server-side
 * apply: the operator (conditions, CA, control plane, namespaces) and the xDS
 * server (connectedProxies, which only it knows). Both run here against a
 * control plane of this file's own, since a Mesh is cluster-wide.
 */
const logger = pino({ level: "error" }, pino.destination(2));
const DAY = 24 * 3600_000;
const FLIP_MS = 20_000;

/** Mesh reconciles so far in this process, whatever their result. */
async function reconcileCount(): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "skiff_reconcile_total");
  return (metric?.values ?? [])
    .filter((v) => v.labels.controller === "mesh")
    .reduce((sum, v) => sum + Number(v.value), 0);
}

describe("the Mesh's status from the operator and the xDS server, on a real API server", function () {
  this.timeout(120_000);
  let plane: LocalControlPlane;
  let rest: RestClient;
  let controller: RunningController | undefined;
  let xds: RunningXdsServer | undefined;
  const proxies: SotwClient[] = [];

  const kubectl = async (...args: string[]) =>
    (await promisify(execFile)(plane.binaries.kubectl, ["--kubeconfig", plane.kubeconfigPath, ...args]))
      .stdout;
  const meshJson = async () => JSON.parse(await kubectl("get", "mesh", "default", "-o", "json")) as Mesh;
  const condition = (mesh: Mesh, type: string) => mesh.status?.conditions?.find((c) => c.type === type);

  /** A proxy on its own connection, connected once the server has answered its first request. */
  const connect = async (id: string, metadata: Record<string, string> = {}) => {
    const proxy = new SotwClient(`127.0.0.1:${xds!.port}`, { id, metadata }, undefined, OWN_CONNECTION);
    proxies.push(proxy);
    proxy.request({ typeUrl: LISTENER_TYPE, resourceNames: [] });
    await proxy.next();
    return proxy;
  };

  before(async () => {
    plane = await LocalControlPlane.start();
    rest = new RestClient(plane.kubeConfig());
    await rest.request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: "skiff-system" } },
    });
    // In place before the Mesh (the operator uses a CA Secret that exists): a root that enters its
    // last 30 days FLIP_MS from now, with no event to tell the operator.
    const root = await createRootCa({
      trustDomain: "cluster.local",
      validityMs: 30 * DAY + FLIP_MS,
      now: new Date(),
    });
    await rest.request("POST", "/api/v1/namespaces/skiff-system/secrets", {
      body: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "skiff-ca" },
        stringData: { "tls.crt": root.certPem, "tls.key": root.keyPem },
      },
    });
    controller = await startMeshController(plane.kubeConfig(), { operatorImage: "skiff:test", logger });
    await new ServerSideApplier(plane.kubeConfig(), "test").apply({
      apiVersion: "skiff.dev/v1alpha1",
      kind: "Mesh",
      metadata: { name: "default" },
      spec: {},
    } as KubernetesObject);
    xds = await startXdsServer(plane.kubeConfig(), {
      logger,
      address: "127.0.0.1:0",
      caNamespace: "skiff-system",
      security: { mode: "insecure" },
    });
  });
  after(async () => {
    try {
      proxies.forEach((p) => p.close());
      await xds?.stop();
      await controller?.stop();
    } finally {
      await plane?.stop();
    }
  });

  it("warns in kubectl's JSON once the CA enters its last 30 days, on time with no event, and Ready does not depend on it", async () => {
    const before = await eventually(async () => {
      const m = await meshJson();
      assert.equal(condition(m, "CertificateAuthorityReady")?.status, "True", JSON.stringify(m.status));
      return m;
    });
    const holding = condition(before, "CertificateAuthorityNotExpiringSoon");
    assert.deepEqual([holding?.status, holding?.reason], ["True", "NotExpiringSoon"]);
    // Nothing changes in the cluster now: only the operator's own timer can flip it.
    const mesh = await eventually(async () => {
      const m = await meshJson();
      assert.equal(condition(m, "CertificateAuthorityNotExpiringSoon")?.status, "False");
      return m;
    }, FLIP_MS + 15_000);
    const expiry = condition(mesh, "CertificateAuthorityNotExpiringSoon");
    assert.equal(expiry?.reason, "ExpiringSoon");
    assert.equal(
      expiry?.message,
      `the certificate authority expires at ${mesh.status?.certificateAuthority?.notAfter}, in 29 days: rotate it before then`,
    );
    // No kube-controller-manager runs here, so Ready waits for the Deployment, and for nothing else.
    assert.deepEqual(
      [condition(mesh, "Ready")?.status, condition(mesh, "Ready")?.reason],
      ["False", "DeploymentPending"],
    );
  });

  it("counts connected proxies in status.connectedProxies (kubectl's PROXIES), each data plane once", async () => {
    // Settled: the operator's own status writes have been reconciled.
    let before = await reconcileCount();
    await eventually(async () => {
      await new Promise((r) => setTimeout(r, 1000));
      const now = await reconcileCount();
      const settled = now === before;
      before = now;
      assert.ok(settled, "the operator is still reconciling");
    });
    await eventually(async () => assert.equal((await meshJson()).status?.connectedProxies, 0));

    const sidecar = "sidecar~10.1.0.7~web-1.shop~shop.svc.cluster.local";
    await connect(sidecar);
    // The same Pod's agent, and a second stream of the sidecar (a reconnect): still one data plane.
    await connect("skiff-agent~10.1.0.7~web-1.shop~shop.svc.cluster.local");
    await connect(sidecar);
    await connect("sidecar~10.1.0.8~checkout-1.shop~shop.svc.cluster.local", { GENERATOR: "grpc" });
    await eventually(async () => {
      const table = await kubectl("get", "mesh", "default");
      assert.match(table, /^NAME\s+TRUST DOMAIN\s+PROXIES\s+READY/);
      assert.match(table, /\ndefault\s+cluster\.local\s+2\s+False/, table);
    });

    const withOwners = JSON.parse(
      await kubectl("get", "mesh", "default", "-o", "json", "--show-managed-fields"),
    ) as { metadata: { managedFields: { manager: string; subresource?: string; fieldsV1: object }[] } };
    const owners = withOwners.metadata.managedFields
      .filter((f) => f.subresource === "status")
      .map((f) => [f.manager, Object.keys((f.fieldsV1 as { "f:status": object })["f:status"]).sort()]);
    assert.deepEqual(
      Object.fromEntries(owners),
      {
        "skiff/mesh": [
          "f:certificateAuthority",
          "f:conditions",
          "f:controlPlane",
          "f:meshedNamespaces",
          "f:observedGeneration",
        ],
        "skiff/xds": ["f:connectedProxies"],
      },
      "one writer per field",
    );
    assert.equal(await reconcileCount(), before, "a new count is no change for the operator");

    // A reconcile (here, for an annotation) keeps the xDS server's field.
    await kubectl("annotate", "mesh", "default", "test/poke=1");
    await eventually(async () => assert.ok((await reconcileCount()) > before));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await meshJson()).status?.connectedProxies, 2);

    proxies.splice(0).forEach((p) => p.close());
    await eventually(async () => assert.equal((await meshJson()).status?.connectedProxies, 0));
  });
});
