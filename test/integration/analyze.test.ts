import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Finding } from "../../src/analyze/finding.js";
import { portsFreeOn } from "../support/free-ports.js";
import { runSkiff, type CliRun } from "../support/skiff-cli.js";
import { controlPlane } from "./controlplane.fixture.js";
import { kubectlOk } from "./kubectl.js";

const NAMESPACE = "analyze-test";

/** A Service, a TrafficPolicy for a Service that does not exist, and one whose second rule the first shadows. */
const OBJECTS = `
apiVersion: v1
kind: Namespace
metadata: { name: ${NAMESPACE} }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${NAMESPACE} }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ghost, namespace: ${NAMESPACE} }
spec:
  targetRef: { kind: Service, name: ghost }
---
apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: web, namespace: ${NAMESPACE} }
spec:
  targetRef: { kind: Service, name: web }
  http:
    - name: all
      route: [{ weight: 100 }]
    - name: api
      match: [{ path: { prefix: /api } }]
      route: [{ weight: 100 }]
`;

/** Exit 3 with one line on stderr, and no stack trace. */
function assertOneLine(run: CliRun, expected: RegExp) {
  assert.equal(run.code, 3, `${run.stdout}\n${run.stderr}`);
  assert.equal(run.stdout, "");
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.match(run.stderr.trimEnd(), expected);
}

/**
 * `skiff analyze` in cluster mode against the fixture's real API server: the
 * objects are read through kubernetes-fluent-client with --kubeconfig, and
 * bad access gives one line and exit 3.
 */
describe("skiff analyze, on a real API server", function () {
  this.timeout(120_000);
  const temporary = mkdtempSync(join(tmpdir(), "skiff-analyze-test-"));

  before(async () => {
    await kubectlOk(["apply", "-f", "-"], OBJECTS);
  });

  after(async () => {
    await kubectlOk(["delete", "namespace", NAMESPACE, "--wait=false", "--ignore-not-found"]);
    rmSync(temporary, { recursive: true, force: true });
  });

  it("reports the namespace's problems and exits 2 for an error", async () => {
    const run = await runSkiff(
      "analyze",
      "--kubeconfig",
      controlPlane().kubeconfigPath,
      "-n",
      NAMESPACE,
      "-o",
      "json",
    );
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr, "");
    const { findings } = JSON.parse(run.stdout) as { findings: Finding[] };
    // Other tests' cluster-scoped objects (a Mesh) may add findings of their own; the namespace's are exactly these.
    const ours = findings
      .filter((f) => f.object.namespace === NAMESPACE)
      .map((f) => `${f.severity} ${f.code} ${f.object.kind}/${f.object.name} ${f.field}`);
    assert.deepEqual(ours, [
      "error SKF0101 TrafficPolicy/ghost spec.targetRef.name",
      "warning SKF0104 TrafficPolicy/web spec.http[1]",
    ]);
    for (const f of findings) assert.ok(f.object.namespace === undefined || f.object.namespace === NAMESPACE);
  });

  it("sees every namespace with -A", async () => {
    const run = await runSkiff("analyze", "--kubeconfig", controlPlane().kubeconfigPath, "-A");
    assert.equal(run.stderr, "");
    assert.match(
      run.stdout,
      new RegExp(
        `^error {3}SKF0101 TrafficPolicy/${NAMESPACE}/ghost spec\\.targetRef\\.name: Service ${NAMESPACE}/ghost does not exist\\.$`,
        "m",
      ),
    );
    assert.equal(run.code, 2);
  });

  it("exits 3 in one line for a context the kubeconfig lacks", async () => {
    const run = await runSkiff("analyze", "--kubeconfig", controlPlane().kubeconfigPath, "--context", "nope");
    assertOneLine(run, /^skiff analyze: context "nope" is not in the kubeconfig /);
  });

  it("exits 3 in one line for a namespace that does not exist", async () => {
    const run = await runSkiff(
      "analyze",
      "--kubeconfig",
      controlPlane().kubeconfigPath,
      "-n",
      "no-such-namespace",
    );
    assertOneLine(run, /^skiff analyze: namespace no-such-namespace does not exist$/);
  });

  it("exits 3 in one line for a kubeconfig without access", async () => {
    const file = join(temporary, "nobody.yaml");
    writeFileSync(file, await controlPlane().clientKubeconfig({ user: "skiff-analyze-nobody" }), {
      mode: 0o600,
    });
    const run = await runSkiff("analyze", "--kubeconfig", file, "-n", NAMESPACE);
    assertOneLine(run, /^skiff analyze: .*skiff-analyze-nobody.*cannot list resource "meshes"/);
  });

  it("exits 3 in one line for an API server that does not answer", async () => {
    const file = join(temporary, "unreachable.yaml");
    // Credentials from the fixture's CA, sent to a free port where nothing listens.
    const [port] = await portsFreeOn(["127.0.0.1"], 1);
    writeFileSync(
      file,
      await controlPlane().clientKubeconfig({
        user: "admin",
        server: `https://127.0.0.1:${port}`,
        tlsServerName: "localhost",
      }),
      { mode: 0o600 },
    );
    const run = await runSkiff("analyze", "--kubeconfig", file, "-n", NAMESPACE);
    assertOneLine(
      run,
      /^skiff analyze: cannot reach the cluster's API server to list meshes\.skiff\.dev: ECONNREFUSED$/,
    );
  });
});
