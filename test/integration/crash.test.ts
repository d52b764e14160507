import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { AuditLogFollower, describeRequest, type AuditEvent } from "../support/audit-log.js";
import { applyMesh, spawnOperator } from "../support/operator.js";
import { eventually } from "./kubectl.js";

const KILLS = Number(process.env.CRASH_KILLS ?? 20);

/**
 * About how many requests an operator makes from start-up until it has
 * written the Mesh's status (informer lists and watches, then a reconcile);
 * kill points are drawn from 1 to this. A kill point past the end of a run
 * is met at the status write instead.
 */
const REQUESTS_PER_RUN = 70;

/** An operator that gets nowhere for this long is stuck, not slow: however busy the machine, fail. */
const PROGRESS_TIMEOUT_MS = 180_000;

/** The operator's own user, so that the audit log tells its requests from the test's. */
const OPERATOR_USER = "crash-test-operator";

/** Where to kill an operator: just after it created the CA Secret, or after its n-th request. */
type KillPoint = { after: "CaCreated" } | { after: "Requests"; count: number };

const caCreated = (r: AuditEvent) =>
  r.verb === "create" && r.objectRef?.resource === "secrets" && r.objectRef.name === "skiff-ca";
const meshStatusWritten = (r: AuditEvent) =>
  r.objectRef?.resource === "meshes" && r.objectRef.subresource === "status" && r.verb !== "get";

function reached(point: KillPoint, requests: readonly AuditEvent[]): boolean {
  if (requests.some(meshStatusWritten)) return true; // the run is done: nothing later to interrupt
  return point.after === "CaCreated" ? requests.some(caCreated) : requests.length >= point.count;
}

/** A small seeded generator, so a failing sequence of kill points can be replayed with CRASH_SEED. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Secret extends KubernetesObject {
  data: Record<string, string>;
}

describe("the operator killed at random points", function () {
  // Slowness alone never fails this test: only a run that makes no progress for PROGRESS_TIMEOUT_MS does.
  this.timeout((KILLS + 2) * PROGRESS_TIMEOUT_MS);
  let plane: LocalControlPlane;
  let operator: ChildProcess | undefined;
  let operatorKubeconfig: string;
  const startOperator = () =>
    (operator = spawnOperator(operatorKubeconfig, [
      "--http-address",
      "127.0.0.1:0",
      "--leader-elect=false",
      // This test is about the reconciler; the webhooks would only delay it.
      "--webhook-address=",
    ]));

  before(async () => {
    plane = await LocalControlPlane.start({ auditLog: true });
    operatorKubeconfig = join(plane.workDir, "operator.kubeconfig");
    const kubeconfig = await plane.clientKubeconfig({ user: OPERATOR_USER, groups: ["system:masters"] });
    await writeFile(operatorKubeconfig, kubeconfig, { mode: 0o600 });
  });
  after(async () => {
    try {
      operator?.kill("SIGKILL");
    } finally {
      await plane?.stop();
    }
  });

  it(`converges after ${KILLS} SIGKILLs mid-reconcile, and never regenerates the CA`, async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    const next = random(seed);
    const admin = new ServerSideApplier(plane.kubeConfig(), "test");
    const rest = new RestClient(plane.kubeConfig());
    const namespaces = ["alpha", "beta", "gamma"];
    let ca: { resourceVersion: string; data: Record<string, string> } | undefined;

    for (let kill = 0; kill < KILLS; kill++) {
      // Change what the operator must do, so that each run has work to be interrupted in.
      const labelled = namespaces.filter(() => next() < 0.5);
      for (const ns of namespaces) {
        await admin.apply({
          apiVersion: "v1",
          kind: "Namespace",
          metadata: {
            name: ns,
            labels: { "skiff.dev/injection": labelled.includes(ns) ? "enabled" : "disabled" },
          },
        } as KubernetesObject);
      }
      await applyMesh(admin, { controlPlane: { replicas: 1 + kill } });

      // Killed by what it has done, not after a time: on a loaded machine a time says little about that.
      // The first kill lands just after the CA Secret is created, before its fingerprint reaches status.
      const point: KillPoint =
        kill === 0
          ? { after: "CaCreated" }
          : { after: "Requests", count: 1 + Math.floor(next() * REQUESTS_PER_RUN) };
      const requests = await AuditLogFollower.fromNow(plane.auditLogPath!, OPERATOR_USER);
      const child = startOperator();
      let killing = false;
      const exited = once(child, "exit").then(([code]) => {
        if (!killing)
          throw new Error(`the operator exited (${code}) on its own before kill ${kill} (seed ${seed})`);
      });
      try {
        await Promise.race([requests.waitFor((seen) => reached(point, seen), PROGRESS_TIMEOUT_MS), exited]);
      } finally {
        killing = true;
        child.kill("SIGKILL");
      }
      await exited;
      const where = `kill ${kill} after request ${requests.requests.length}, ${describeRequest(requests.requests.at(-1))} (seed ${seed})`;

      const secret = await rest.getIfExists<Secret & { metadata: { resourceVersion: string } }>(
        "/api/v1/namespaces/skiff-system/secrets/skiff-ca",
      );
      if (ca && secret) {
        assert.equal(secret.metadata.resourceVersion, ca.resourceVersion, `the CA changed at ${where}`);
        assert.deepEqual(secret.data, ca.data);
      }
      if (!ca && secret) ca = { resourceVersion: secret.metadata.resourceVersion, data: secret.data };
    }

    // One last, uninterrupted run must reach the right state.
    startOperator();
    const labelled = await Promise.all(
      namespaces.map(async (ns) => {
        const obj = await rest.request<KubernetesObject>("GET", `/api/v1/namespaces/${ns}`);
        return obj.metadata?.labels?.["skiff.dev/injection"] === "enabled" ? ns : undefined;
      }),
    );
    await eventually(async () => {
      const mesh = await rest.request<{
        metadata: { generation: number };
        status?: { observedGeneration?: number; meshedNamespaces?: number };
      }>("GET", "/apis/skiff.dev/v1alpha1/meshes/default");
      assert.equal(mesh.status?.observedGeneration, mesh.metadata.generation, `seed ${seed}`);
      assert.equal(mesh.status?.meshedNamespaces, labelled.filter(Boolean).length);
      const deployment = await rest.request<{ spec: { replicas: number } }>(
        "GET",
        "/apis/apps/v1/namespaces/skiff-system/deployments/skiff-xds",
      );
      assert.equal(deployment.spec.replicas, KILLS);
      for (const ns of namespaces) {
        const bundle = await rest.getIfExists(`/api/v1/namespaces/${ns}/configmaps/skiff-trust-bundle`);
        assert.equal(bundle !== undefined, labelled.includes(ns), `${ns} (seed ${seed})`);
      }
    }, 60_000);
    const secret = await rest.request<Secret & { metadata: { resourceVersion: string } }>(
      "GET",
      "/api/v1/namespaces/skiff-system/secrets/skiff-ca",
    );
    assert.ok(ca, "the CA was created during the kills");
    assert.equal(
      secret.metadata.resourceVersion,
      ca.resourceVersion,
      `the CA was regenerated (seed ${seed})`,
    );
  });
});
