import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { repositoryRoot } from "../../../src/controlplane/binaries.js";
import { XDS_POD_LABELS } from "../../../src/mesh/names.js";
import { LISTENER_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { SotwClient } from "../../support/ads-client.js";
import { createMeshCa, serviceAccountToken } from "../../support/mesh-test-kit.js";
import { runSkiff } from "../../support/skiff-cli.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "../kubectl.js";

/**
 * How skiff proxy-status reaches a production xDS server with no more than
 * a kubeconfig: the Mesh names the root namespace, the trust bundle there
 * verifies the server (skiff-xds.<root>.svc over TLS), and the token is
 * minted for skiff-mesh-reader, whose RBAC is config/rbac/mesh_reader.yaml.
 * And the cluster's refusals, each in one line.
 */
const ROOT = "proxy-status-root";
const MESH = "proxy-status";
const SERVER_NAME = `skiff-xds.${ROOT}.svc`;

describe("skiff proxy-status with a kubeconfig only: TLS to skiff-xds.<root>.svc, a minted skiff-mesh-reader token", function () {
  this.timeout(120_000);
  let dir: string;
  let xds: RunningXdsServer;
  let address: string;
  let proxy: SotwClient | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "skiff-proxy-status-access-"));
    await kubectlOk(["create", "namespace", ROOT]);
    const root = await createMeshCa(ROOT);
    writeFileSync(join(dir, "root.pem"), root.certPem);
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: Mesh
metadata: { name: ${MESH} }
spec: { rootNamespace: ${ROOT} }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: skiff-trust-bundle, namespace: ${ROOT} }
data:
  root-cert.pem: |
${root.certPem
  .trim()
  .split("\n")
  .map((line) => `    ${line}`)
  .join("\n")}
`,
    );
    // The install's own RBAC for the reader, in this test's root namespace.
    const readerRbac = readFileSync(join(repositoryRoot(), "config", "rbac", "mesh_reader.yaml"), "utf8");
    await kubectlOk(
      ["apply", "-f", "-"],
      readerRbac.replaceAll("namespace: skiff-system", `namespace: ${ROOT}`),
    );
    await kubectlOk(["create", "serviceaccount", "-n", ROOT, "app"]);
    await kubectlOk(["create", "service", "clusterip", "reviews", "-n", ROOT, "--tcp=9080:9080"]);
    xds = await startXdsServer(controlPlane().kubeConfig(), {
      security: { mode: "tls", serverNames: [SERVER_NAME] },
      address: "127.0.0.1:0",
      logger: pino({ level: process.env.LOG_LEVEL ?? "silent" }),
      caNamespace: ROOT,
    });
    address = `127.0.0.1:${xds.port}`;
    proxy = new SotwClient(
      address,
      { id: "grpc~proxy-status-tls", metadata: { GENERATOR: "grpc" } },
      await serviceAccountToken(controlPlane().kubeConfig(), ROOT, "app"),
      { "grpc.ssl_target_name_override": SERVER_NAME },
      credentials.createSsl(Buffer.from(root.certPem)),
    );
    proxy.request({ typeUrl: LISTENER_TYPE, resourceNames: [`reviews.${ROOT}.svc.cluster.local:9080`] });
    proxy.ack(await proxy.next());
  });

  after(async () => {
    proxy?.close();
    await xds?.stop();
    rmSync(dir, { recursive: true, force: true });
    await kubectl(["delete", "mesh", MESH]);
    await kubectl(["delete", "clusterrolebinding,clusterrole", "skiff-mesh-reader", "--ignore-not-found"]);
    await kubectlOk(["delete", "namespace", ROOT, "--wait=false"]);
  });

  it("finds the root namespace, the mesh root and the reader's token from the cluster, and reads the proxy over TLS", async () => {
    const run = await eventually(async () => {
      const result = await runSkiff(
        ...["proxy-status", "--xds-address", address, "--kubeconfig", controlPlane().kubeconfigPath],
      );
      assert.equal(result.code, 0, result.stdout + result.stderr);
      return result;
    });
    assert.match(run.stdout, /^grpc~proxy-status-tls\s+proxyless\s+NOT SENT\s+SYNCED\s/m, run.stdout);
  });

  it("without --xds-address, asks each Ready skiff-xds Pod of the root namespace through a port-forward", async () => {
    // No kubelet runs here, so the API server cannot forward: the Ready Pod is named as not answering,
    // in one line, and the Pod that is not Ready is not asked.
    for (const [name, ready] of [
      ["skiff-xds-ready", "True"],
      ["skiff-xds-starting", "False"],
    ] as const) {
      await kubectlOk(
        ["apply", "-f", "-"],
        JSON.stringify({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, namespace: ROOT, labels: XDS_POD_LABELS },
          spec: { nodeName: "proxy-status-node", containers: [{ name: "xds", image: "skiff" }] },
        }),
      );
      await kubectlOk([
        ...["patch", "pod", name, "-n", ROOT, "--subresource=status", "--type=merge", "-p"],
        JSON.stringify({ status: { phase: "Running", conditions: [{ type: "Ready", status: ready }] } }),
      ]);
    }
    const run = await runSkiff("proxy-status", "--kubeconfig", controlPlane().kubeconfigPath);
    assert.equal(run.code, 1, run.stdout);
    assert.deepEqual(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(
        `^skiff proxy-status: xDS server skiff-xds-ready\\.${ROOT} did not answer: the API server did not forward to the Pod.s port 15010: \\S`,
      ),
    );
    assert.match(run.stdout, /^NAME\s+KIND/, "the (empty) table is still printed");
  });

  it("a server name the certificate does not carry is refused by TLS", async () => {
    const run = await runSkiff(
      ...["proxy-status", "--xds-address", address, "--kubeconfig", controlPlane().kubeconfigPath],
      ...["--xds-server-name", "skiff-xds.elsewhere.svc"],
    );
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^skiff proxy-status: xDS server \S+ did not answer: no answer \(UNAVAILABLE\)/);
  });

  it("a kubeconfig whose user may not read the cluster, and one whose cluster does not answer: one line, exit 1", async () => {
    const nobody = join(dir, "nobody.kubeconfig");
    writeFileSync(nobody, await controlPlane().clientKubeconfig({ user: "proxy-status-nobody" }));
    const denied = await runSkiff("proxy-status", "--kubeconfig", nobody);
    assert.equal(denied.code, 1);
    assert.deepEqual(denied.stderr.trim().split("\n").length, 1, denied.stderr);
    assert.match(denied.stderr, /^skiff proxy-status: .*"proxy-status-nobody" cannot list resource "meshes"/);

    // Past the Mesh, minting the reader's token is what this user may not do.
    await kubectlOk([
      "create",
      "clusterrole",
      "proxy-status-mesh-lister",
      "--verb=list",
      "--resource=meshes.skiff.dev",
    ]);
    await kubectlOk([
      ...["create", "clusterrolebinding", "proxy-status-mesh-lister"],
      ...["--clusterrole=proxy-status-mesh-lister", "--user=proxy-status-nobody"],
    ]);
    try {
      const minting = await eventually(async () => {
        const run = await runSkiff(
          ...["proxy-status", "--kubeconfig", nobody, "--xds-address", address],
          ...["--xds-ca-file", join(dir, "root.pem")],
        );
        assert.doesNotMatch(run.stderr, /cannot list resource "meshes"/);
        return run;
      });
      assert.equal(minting.code, 1);
      assert.equal(minting.stderr.trim().split("\n").length, 1, minting.stderr);
      assert.match(
        minting.stderr,
        new RegExp(
          `^skiff proxy-status: .*cannot create resource "serviceaccounts/token".* in the namespace "${ROOT}"`,
        ),
      );
    } finally {
      await kubectl([
        "delete",
        "clusterrolebinding,clusterrole",
        "proxy-status-mesh-lister",
        "--ignore-not-found",
      ]);
    }

    const away = join(dir, "away.kubeconfig");
    writeFileSync(
      away,
      (await controlPlane().clientKubeconfig({ user: "proxy-status-nobody" })).replace(
        controlPlane().apiServerUrl,
        "https://127.0.0.1:1",
      ),
    );
    const unreachable = await runSkiff("proxy-status", "--kubeconfig", away);
    assert.equal(unreachable.code, 1);
    assert.equal(unreachable.stderr.trim().split("\n").length, 1, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /^skiff proxy-status: cannot reach the cluster's API server to list meshes\.skiff\.dev/,
    );
  });
});
