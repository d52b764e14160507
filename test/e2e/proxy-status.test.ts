/**
 * skiff proxy-status and proxy-config on skiff dev's cluster: the xDS
 * servers the Mesh generates (over TLS from the mesh CA, with a token the
 * API server minted) report a real sidecar, and proxy-config's clusters are
 * the ones that sidecar's Envoy shows in its own /config_dump.
 *
 * The test process has no route to the local node's Pods, so the CLI runs
 * in an xDS Pod's network namespace (as an in-cluster user would run it)
 * and dials every replica by Pod IP with --xds-address. One test runs it
 * as a user outside the cluster does: from this process, with only the
 * cluster's kubeconfig, through API server port-forwards to the xDS Pods.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT as REPOSITORY, runSkiff } from "../support/skiff-cli.js";
import { envoyAdmin } from "./envoy-admin.js";
import {
  apply,
  clientPod,
  condition,
  deleteNamespace,
  exec,
  listPods,
  meshCluster,
  meshNamespace,
  rest,
  skipUnlessSupported,
  waitPodsReady,
} from "./kit.js";

const NS = "e2e-proxy-status";
const ROOT = "skiff-system";
const READER = "e2e-proxy-status-reader";

type Json = Record<string, unknown>;

describe("skiff proxy-status and proxy-config against the generated xDS servers and a real sidecar", function () {
  let dir: string;
  let xdsPod: string;
  let access: string[];

  /** The built CLI in an xDS Pod's network namespace, as its container's user (not captured by any sidecar). */
  const skiff = (...args: string[]) =>
    exec(
      ROOT,
      xdsPod,
      [process.execPath, join(REPOSITORY, "dist", "src", "cli", "main.js"), ...args, ...access],
      {
        container: "xds",
        timeoutMs: 60_000,
      },
    );

  before(async function () {
    skipUnlessSupported(this);
    dir = mkdtempSync(join(tmpdir(), "skiff-e2e-proxy-status-"));
    chmodSync(dir, 0o755);
    await meshNamespace(NS);
    await apply([clientPod(NS)]);
    await waitPodsReady(NS, 1);

    // A ServiceAccount that may get Meshes, and its token for the skiff audience.
    await apply([
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: READER, namespace: NS } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: READER },
        rules: [{ apiGroups: ["skiff.dev"], resources: ["meshes"], verbs: ["get"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: READER },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: READER },
        subjects: [{ kind: "ServiceAccount", name: READER, namespace: NS }],
      },
    ]);
    const { status } = await rest().request<{ status: { token: string } }>(
      "POST",
      `/api/v1/namespaces/${NS}/serviceaccounts/${READER}/token`,
      {
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { audiences: ["skiff"] },
        },
      },
    );
    const bundle = await rest().request<{ data: Record<string, string> }>(
      "GET",
      `/api/v1/namespaces/${NS}/configmaps/skiff-trust-bundle`,
    );
    for (const [file, content] of [
      ["token", status.token],
      ["root-cert.pem", bundle.data["root-cert.pem"]!],
    ] as const) {
      writeFileSync(join(dir, file), content);
      chmodSync(join(dir, file), 0o644);
    }

    const replicas = (await listPods(ROOT)).filter(
      (pod) =>
        pod.metadata.name.startsWith("skiff-xds-") &&
        !pod.metadata.deletionTimestamp &&
        condition(pod, "Ready") === "True",
    );
    assert.ok(replicas.length > 0, "a Ready xDS server");
    xdsPod = replicas[0]!.metadata.name;
    access = [
      ...replicas.flatMap((pod) => [
        "--xds-address",
        `${(pod as { status?: { podIP?: string } }).status?.podIP}:15010`,
      ]),
      ...["--xds-ca-file", join(dir, "root-cert.pem"), "--xds-server-name", `skiff-xds.${ROOT}.svc`],
      ...["--token-file", join(dir, "token")],
    ];
  });

  after(async () => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    await rest()
      .request("DELETE", `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${READER}`)
      .catch(() => {});
    await rest()
      .request("DELETE", `/apis/rbac.authorization.k8s.io/v1/clusterroles/${READER}`)
      .catch(() => {});
    await deleteNamespace(NS).catch(() => {});
  });

  it("shows the client's sidecar SYNCED on the replica it is connected to", async () => {
    const run = await skiff("proxy-status");
    // Other files' proxies may still be going away in a full run: only this sidecar must be in sync, and
    // the exit status must say whether any proxy is not (its problems are listed under the table).
    const [, problems = ""] = run.stdout.split("\n\n");
    assert.doesNotMatch(problems, new RegExp(`^client\\.${NS} `, "m"), run.stdout);
    assert.equal(run.code, problems.trim() ? 1 : 0, run.stdout + run.stderr);
    const row = run.stdout
      .split("\n")
      .find((line) => line.startsWith(`client.${NS} `))
      ?.split(/\s{3,}/);
    assert.ok(row, run.stdout);
    assert.deepEqual(row.slice(1, 4), ["sidecar", "SYNCED", "SYNCED"], run.stdout);
    assert.match(row.at(-1)!, /^\d+\.\d+\.\d+\.\d+:15010$/, "the replica, by the address dialled");
  });

  it("with only the kubeconfig, reaches the xDS servers through API server port-forwards", async () => {
    // skiff dev applies the install's skiff-mesh-reader RBAC, whose token the CLI mints.
    const run = await runSkiff("proxy-status", "--kubeconfig", meshCluster().plane.kubeconfigPath);
    const [, problems = ""] = run.stdout.split("\n\n");
    assert.doesNotMatch(problems, new RegExp(`^client\\.${NS} `, "m"), run.stdout);
    assert.equal(run.code, problems.trim() ? 1 : 0, run.stdout + run.stderr);
    const row = run.stdout
      .split("\n")
      .find((line) => line.startsWith(`client.${NS} `))
      ?.split(/\s{3,}/);
    assert.ok(row, run.stdout + run.stderr);
    assert.deepEqual(row.slice(1, 4), ["sidecar", "SYNCED", "SYNCED"], run.stdout);
    assert.match(row.at(-1)!, new RegExp(`^skiff-xds-[a-z0-9-]+\\.${ROOT}$`), "the replica, by its Pod");
  });

  it("proxy-config clusters -o json equals the sidecar's own /config_dump of its dynamic active clusters", async () => {
    // Other tests' namespaces may change the mesh between the two reads: compare until a read of each agrees.
    let last = "";
    for (let attempt = 0; attempt < 5; attempt++) {
      const run = await skiff("proxy-config", "clusters", "client", "-n", NS, "-o", "json");
      assert.equal(run.code, 0, run.stderr);
      const ours = (
        JSON.parse(run.stdout) as { configs: { dynamic_active_clusters: { cluster: Json }[] }[] }
      ).configs[0]!.dynamic_active_clusters.map((c) => c.cluster);
      const envoys = (
        JSON.parse(await envoyAdmin(NS, "client", "/config_dump?resource=dynamic_active_clusters")) as {
          configs: { cluster: Json }[];
        }
      ).configs.map((c) => c.cluster);
      const byName = (clusters: Json[]) => new Map(clusters.map((c) => [c["name"] as string, c]));
      try {
        assert.ok(ours.length >= 2, "a sidecar has several clusters");
        assert.deepEqual(byName(ours), byName(envoys));
        return;
      } catch (error) {
        last = (error as Error).message;
      }
    }
    assert.fail(last);
  });
});
