import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { parse, stringify } from "yaml";
import type { KubernetesObject } from "@kubernetes/client-node";
import { startLocalOperator } from "../../src/cli/dev-cluster.js";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { installCrds, readCrds } from "../../src/controlplane/crds.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import type { RunningOperator } from "../../src/operator/operator.js";
import { createSelfSignedCa } from "../../src/pki/issue.js";
import { portsFreeOn } from "../support/free-ports.js";
import { applyMesh, meshConditionStatus } from "../support/operator.js";
import { runSkiff, type CliRun } from "../support/skiff-cli.js";
import { controlPlane } from "./controlplane.fixture.js";
import { eventually } from "./kubectl.js";

interface Check {
  id: string;
  description: string;
  status: "ok" | "warning" | "fail";
  detail?: string;
  hint?: string;
}
interface Report {
  success: boolean;
  groups: { name: string; checks: Check[] }[];
}

const INJECTOR = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/skiff-sidecar-injector";
const VALIDATION = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/skiff-validation";
const CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/peerauthentications.skiff.dev";
const MESHED_NAMESPACE = "check-meshed";

/** `skiff check -o json` with the fixture's admin kubeconfig, and the checks it reported by id. */
async function check(
  ...args: string[]
): Promise<{ run: CliRun; report: Report; byId: (id: string) => Check[] }> {
  const run = await runSkiff("check", "-o", "json", "--kubeconfig", controlPlane().kubeconfigPath, ...args);
  assert.equal(run.stderr, "", "stderr");
  const report = JSON.parse(run.stdout) as Report;
  const byId = (id: string) => report.groups.flatMap((g) => g.checks).filter((c) => c.id === id);
  return { run, report, byId };
}

const statuses = (checks: Check[]) => checks.map((c) => c.status);

/**
 * `skiff check` against the real API server of the integration fixture, with
 * the operator running as `skiff dev` runs it (in this process, leader
 * election and webhook Secret in skiff-system, webhooks called at
 * 127.0.0.1), and a Mesh. Without a node, no Deployment becomes Available
 * here: the xDS and Ready checks pass in the end-to-end test
 * (test/e2e/check.test.ts), and each check's both outcomes are unit-tested.
 */
describe("skiff check, on a real API server", function () {
  this.timeout(120_000);
  let operator: RunningOperator | undefined;
  const rest = () => new RestClient(controlPlane().kubeConfig());
  const applier = () => new ServerSideApplier(controlPlane().kubeConfig(), "skiff/check-test");
  const temporary = mkdtempSync(join(tmpdir(), "skiff-check-test-"));

  const ensureNamespace = async (name: string, labels: Record<string, string> = {}) =>
    applier().apply({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels } } as KubernetesObject);

  before(async () => {
    await ensureNamespace("skiff-system");
    operator = await startLocalOperator(
      controlPlane().kubeConfig(),
      "ghcr.io/skiff-dev/skiff:test",
      pino({ level: "silent" }),
    );
    await applyMesh(applier(), { rootNamespace: "skiff-system" });
    await ensureNamespace(MESHED_NAMESPACE, { "skiff.dev/injection": "enabled" });
    await eventually(async () =>
      assert.equal(await meshConditionStatus(rest(), "CertificateAuthorityReady"), "True"),
    );
    await eventually(() =>
      rest().request("GET", `/api/v1/namespaces/${MESHED_NAMESPACE}/configmaps/skiff-trust-bundle`),
    );
  });

  after(async () => {
    // The Mesh's finalizer needs the operator: delete the Mesh before stopping it.
    const operatorRunning = operator !== undefined;
    if (!operatorRunning)
      operator = await startLocalOperator(
        controlPlane().kubeConfig(),
        "ghcr.io/skiff-dev/skiff:test",
        pino({ level: "silent" }),
      );
    await rest()
      .request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default")
      .catch(() => {});
    await eventually(async () => {
      await assert.rejects(
        rest().request("GET", "/apis/skiff.dev/v1alpha1/meshes/default"),
        KubernetesApiError,
      );
    });
    await operator?.stop();
    for (const path of [INJECTOR, VALIDATION, `/api/v1/namespaces/${MESHED_NAMESPACE}`])
      await rest()
        .request("DELETE", path)
        .catch(() => {});
    rmSync(temporary, { recursive: true, force: true });
  });

  it("passes --pre as the fixture's admin, warning that Skiff's CRDs are already there", async () => {
    const { run, report, byId } = await check("--pre");
    assert.equal(run.code, 0, run.stdout);
    assert.equal(report.success, true);
    assert.deepEqual(
      report.groups.map((g) => g.name),
      ["kubernetes-api", "kubernetes-version", "pre-kubernetes-setup", "pre-skiff-crds"],
    );
    assert.equal(byId("pre-k8s-permissions").length, 12);
    assert.ok(byId("pre-k8s-permissions").every((c) => c.status === "ok"));
    assert.deepEqual(statuses(byId("pre-crds")), ["warning", "warning", "warning", "warning"]);
    assert.equal(byId("kubernetes-version")[0]!.status, "ok");
  });

  it("passes the CRD, operator, webhook and CA checks with the operator running, and fails the xDS ones without a node", async () => {
    const { run, byId } = await check();
    assert.equal(run.code, 1, run.stdout);
    assert.deepEqual(statuses(byId("crds")), ["ok", "ok", "ok", "ok"]);
    assert.equal(byId("operator-leader")[0]!.status, "ok");
    // skiff dev's operator runs outside the cluster: no Deployment, but a leader.
    assert.equal(byId("operator-deployment")[0]!.status, "warning");
    assert.match(byId("operator-deployment")[0]!.detail!, /runs outside the cluster/);
    assert.deepEqual(statuses(byId("webhook-configuration")), ["ok", "ok"]);
    assert.deepEqual(statuses(byId("webhook-cabundle")), ["ok", "ok"]);
    assert.deepEqual(statuses(byId("mesh-exists")), ["ok"]);
    assert.deepEqual(statuses(byId("ca-ready")), ["ok"]);
    assert.deepEqual(statuses(byId("ca-expiry")), ["ok"]);
    assert.match(byId("ca-expiry")[0]!.detail!, /in 36\d\d days/);
    assert.deepEqual(statuses(byId("trust-anchors")), ["ok"]);
    assert.match(byId("trust-anchors")[0]!.detail!, /CN=.*valid until .*\(36\d\d days\)/);
    // No kube-controller-manager, no node: the xDS Deployment is never Available, so the Mesh is not Ready.
    const xds = byId("xds-deployment")[0]!;
    assert.equal(xds.status, "fail");
    assert.match(
      xds.detail!,
      /0 of 2 replicas ready; the Deployment controller has not reported it Available/,
    );
    assert.match(xds.hint!, /kubectl -n skiff-system describe deployment skiff-xds/);
    const ready = byId("mesh-ready")[0]!;
    assert.equal(ready.status, "fail");
    assert.match(ready.detail!, /reason DeploymentPending/);
    assert.match(ready.hint!, /skiff-xds checks/);
    assert.equal(byId("xds-endpoints")[0]!.status, "fail");
    // The API server's proxy finds no endpoint to ask: a warning, the endpoints check has failed already.
    const serving = byId("xds-serving")[0]!;
    assert.equal(serving.status, "warning");
    assert.match(
      serving.detail!,
      /the API server did not reach it: .*no endpoints available for service "skiff-xds/,
    );
  });

  it("prints ✔, ‼ and ✘ lines under group headings, a hint under each problem and the overall result", async () => {
    const run = await runSkiff("check", "--kubeconfig", controlPlane().kubeconfigPath);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /^skiff-webhooks\n-+\n✔ the webhook configuration skiff-sidecar-injector exists$/m,
    );
    assert.match(
      run.stdout,
      /^‼ the operator Deployment skiff-system\/skiff-operator is Available\n {4}there is no Deployment.*\n {4}hint: .*\n {4}see .*docs\/check\.md#operator-deployment for more$/m,
    );
    assert.match(run.stdout, /^✘ the xDS server Deployment skiff-system\/skiff-xds is Available$/m);
    assert.match(run.stdout, /\nStatus check results are ✘\n$/);
  });

  it("fails the caBundle check with its hint when the webhook's caBundle is another CA's", async () => {
    const now = new Date();
    const other = await createSelfSignedCa("CN=not-the-webhook-ca", now, new Date(now.getTime() + 3600_000));
    const patch = [
      {
        op: "replace",
        path: "/webhooks/0/clientConfig/caBundle",
        value: Buffer.from(other.pair.certPem).toString("base64"),
      },
    ];
    await rest().request("PATCH", INJECTOR, { body: patch, contentType: "application/json-patch+json" });
    try {
      const { byId } = await check();
      const [injector, validation] = byId("webhook-cabundle");
      assert.equal(injector!.status, "fail");
      assert.match(injector!.description, /skiff-sidecar-injector/);
      assert.match(
        injector!.detail!,
        /webhook inject\.skiff\.dev: no certificate in its caBundle \(CN=not-the-webhook-ca\) signed the serving certificate \(issuer .*CN=skiff-webhook-ca/,
      );
      assert.match(injector!.hint!, /sets caBundle from skiff-system\/skiff-webhook-tls/);
      assert.equal(validation!.status, "ok");
    } finally {
      const good = Buffer.from(operator!.webhook!.caBundle()).toString("base64");
      await rest().request("PATCH", INJECTOR, {
        body: [{ op: "replace", path: "/webhooks/0/clientConfig/caBundle", value: good }],
        contentType: "application/json-patch+json",
      });
    }
  });

  it("fails the CRD check with its hint when a CRD is missing", async () => {
    await rest().request("DELETE", CRD);
    try {
      await eventually(async () => assert.rejects(rest().request("GET", CRD), KubernetesApiError));
      const { run, byId } = await check();
      assert.equal(run.code, 1);
      const missing = byId("crds").find((c) => c.description.includes("peerauthentications"))!;
      assert.equal(missing.status, "fail");
      assert.equal(missing.detail, "the CRD peerauthentications.skiff.dev is not installed");
      assert.match(missing.hint!, /kubectl apply -k config\/crd/);
      assert.deepEqual(statuses(byId("crds")).filter((s) => s === "ok").length, 3);
    } finally {
      const crds = await readCrds(join(repositoryRoot(), "crds"));
      await installCrds(
        controlPlane().kubeConfig(),
        crds.filter((c) => c.metadata?.name === "peerauthentications.skiff.dev"),
      );
    }
  });

  it("fails the operator check with its hint when the operator is stopped", async () => {
    await operator!.stop();
    operator = undefined;
    const { run, byId } = await check();
    assert.equal(run.code, 1);
    const leader = byId("operator-leader")[0]!;
    assert.equal(leader.status, "fail");
    assert.match(leader.detail!, /has expired or been released: no operator runs the controllers/);
    assert.match(leader.hint!, /the operator is down/);
    // With no leader, the missing Deployment is no longer explained by an operator outside the cluster.
    assert.equal(byId("operator-deployment")[0]!.status, "fail");
  });

  it("says in one line on stderr, exit 1, that an API server on a closed port cannot be reached", async () => {
    const [port] = await portsFreeOn(["127.0.0.1"], 1);
    const file = join(temporary, "closed-port.kubeconfig");
    writeFileSync(
      file,
      controlPlane().kubeconfig.replace(
        /server: https:\/\/127\.0\.0\.1:\d+/,
        `server: https://127.0.0.1:${port}`,
      ),
    );
    const run = await runSkiff("check", "--kubeconfig", file);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr,
      `skiff check: cannot reach the cluster's API server to read its version (GET /version): ECONNREFUSED (https://127.0.0.1:${port})\n`,
    );
  });

  it("says in one line, exit 1, that the API server refused the credentials or the context is unknown; exit 2 for a bad option", async () => {
    const doc = parse(controlPlane().kubeconfig) as { users: { user: Record<string, string> }[] };
    doc.users[0]!.user = { token: "not-a-token-the-server-knows" };
    const file = join(temporary, "refused.kubeconfig");
    writeFileSync(file, stringify(doc));
    const refused = await runSkiff("check", "--kubeconfig", file);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.equal(
      refused.stderr,
      `skiff check: the API server refused the kubeconfig's credentials (401 Unauthorized) to read its version (GET /version) (${controlPlane().apiServerUrl})\n`,
    );
    const unknown = await runSkiff(
      "check",
      "--kubeconfig",
      controlPlane().kubeconfigPath,
      "--context",
      "nope",
    );
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      `skiff check: context "nope" is not in the kubeconfig ${controlPlane().kubeconfigPath}\n`,
    );
    const usage = await runSkiff("check", "-o", "yaml");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^skiff check: -o must be text or json\n\nUsage: skiff check/);
    assert.equal((await runSkiff("check", "--wait", "soon")).code, 2);
  });

  it("fails every permission check with a hint for a user with no permissions, and the reads it needs after install", async () => {
    const file = join(temporary, "nobody.kubeconfig");
    writeFileSync(file, await controlPlane().clientKubeconfig({ user: "skiff-check-nobody" }));
    const pre = await runSkiff("check", "--pre", "-o", "json", "--kubeconfig", file);
    assert.equal(pre.code, 1, pre.stderr);
    const report = JSON.parse(pre.stdout) as Report;
    const permissions = report.groups.find((g) => g.name === "pre-kubernetes-setup")!.checks;
    assert.equal(permissions.length, 12);
    for (const permission of permissions) {
      assert.equal(permission.status, "fail", permission.description);
      assert.match(
        permission.hint!,
        /install Skiff as a cluster administrator \(kubectl auth can-i create \S+/,
      );
    }
    assert.match(
      permissions.find((c) => c.description === "can create Deployments in namespace skiff-system")!.hint!,
      /kubectl auth can-i create deployments\.apps -n skiff-system/,
    );
    const crdRead = report.groups.find((g) => g.name === "pre-skiff-crds")!.checks;
    assert.deepEqual(statuses(crdRead), ["fail"]);
    assert.match(crdRead[0]!.detail!, /customresourcedefinitions.* is forbidden: User "skiff-check-nobody"/);

    const post = await runSkiff("check", "-o", "json", "--kubeconfig", file);
    assert.equal(post.code, 1, post.stderr);
    const existence = (JSON.parse(post.stdout) as Report).groups.find((g) => g.name === "skiff-existence")!;
    assert.equal(existence.checks[0]!.id, "read-access");
    assert.match(existence.checks[0]!.hint!, /run skiff check as a user who may read/);
  });
});
