import assert from "node:assert/strict";
import { KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { pino } from "pino";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { startMeshController, type RunningController } from "../../src/controllers/mesh/controller.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { RestClient } from "../../src/k8s/rest.js";
import { GENERATED_OBJECTS } from "../../src/controllers/mesh/generated.js";
import { AuditLogFollower, describeRequest, type AuditEvent } from "../support/audit-log.js";
import { applyMesh, meshControllerIdle, meshReconcileCount } from "../support/operator.js";
import { eventually } from "./kubectl.js";

/** The controller's own user, so that the audit log tells its requests from the test's. */
const CONTROLLER_USER = "mesh-requests-controller";
const logger = pino({ level: "error" }, pino.destination(2));

/**
 * What a Mesh reconcile asks of the API server once the mesh is in place:
 * the reconciler reads its caches, so a reconcile with nothing to change
 * costs one GET of the Mesh and, when the status changed, one status write.
 * Before the caches it was about 21 requests, and this would catch a read
 * that went back to the API server.
 */
describe("Mesh reconciles in a steady state", function () {
  this.timeout(180_000);
  let plane: LocalControlPlane;
  let controller: RunningController | undefined;
  const admin = () => new ServerSideApplier(plane.kubeConfig(), "test");
  const observedGeneration = async () =>
    (
      await new RestClient(plane.kubeConfig()).request<{ status?: { observedGeneration?: number } }>(
        "GET",
        "/apis/skiff.dev/v1alpha1/meshes/default",
      )
    ).status?.observedGeneration;

  const labelNamespace = (name: string, injection: "enabled" | "disabled") =>
    admin().apply({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { "skiff.dev/injection": injection } },
    });
  /** Applies the Mesh's spec and waits until the controller has reconciled it and is idle. */
  const converge = async (spec: Record<string, unknown>) => {
    const mesh = await applyMesh(admin(), spec);
    await eventually(async () => assert.equal(await observedGeneration(), mesh.metadata?.generation));
    await meshControllerIdle();
  };
  const startController = async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(
      await plane.clientKubeconfig({ user: CONTROLLER_USER, groups: ["system:masters"] }),
    );
    controller = await startMeshController(kubeConfig, { operatorImage: "skiff:test", logger });
  };

  before(async () => {
    plane = await LocalControlPlane.start({ auditLog: true });
    for (const name of ["alpha", "beta"]) await labelNamespace(name, "enabled");
    await startController();
    await converge({});
  });
  after(async () => {
    try {
      await controller?.stop();
    } finally {
      await plane?.stop();
    }
  });

  /** The controller's requests while `act` runs and until it is idle again, and the reconciles meanwhile. */
  async function requestsDuring(
    act: () => Promise<void>,
  ): Promise<{ requests: AuditEvent[]; reconciles: number }> {
    const reconcilesBefore = await meshReconcileCount();
    const follower = await AuditLogFollower.fromNow(plane.auditLogPath!, CONTROLLER_USER);
    await act();
    await meshControllerIdle();
    const requests = await follower.waitFor(() => true, 0);
    return { requests, reconciles: (await meshReconcileCount()) - reconcilesBefore };
  }

  it("a change to nothing it generates costs a GET of the Mesh and a status write per reconcile", async () => {
    const CHANGES = 5;
    const { requests, reconciles } = await requestsDuring(async () => {
      let generation = (await observedGeneration()) ?? 0;
      for (let i = 1; i <= CHANGES; i++) {
        // Not 1: that is the field's default, and applying it changes no generation.
        const mesh = await applyMesh(admin(), { observability: { tracing: { samplingPercent: 10 + i } } });
        assert.equal(mesh.metadata?.generation, ++generation, "each change is a new generation");
        await eventually(async () => assert.equal(await observedGeneration(), generation));
      }
    });
    assert.ok(reconciles >= CHANGES, `${reconciles} reconciles for ${CHANGES} changes`);
    const described = requests.map(describeRequest);
    const other = described.filter((r) => r !== "get meshes default" && r !== "patch meshes/status default");
    assert.deepEqual(other, [], "requests other than the Mesh's GET and status write");
    assert.ok(
      requests.length <= 2 * reconciles,
      `${requests.length} requests over ${reconciles} reconciles: ${described.join(", ")}`,
    );
  });

  it("a change to one generated object writes that object alone", async () => {
    const { requests } = await requestsDuring(async () => {
      const mesh = await applyMesh(admin(), { controlPlane: { replicas: 3 } });
      await eventually(async () => assert.equal(await observedGeneration(), mesh.metadata?.generation));
    });
    const writes = requests.filter((r) => r.verb !== "get").map(describeRequest);
    assert.deepEqual([...new Set(writes)].sort(), [
      "patch deployments skiff-system/skiff-xds",
      "patch meshes/status default",
    ]);
  });

  it("leaves, after a sequence of changes, what a new process applying everything from scratch leaves", async () => {
    const rest = new RestClient(plane.kubeConfig());
    /** Every object the Mesh generated, by kind and place, with its resourceVersion. */
    const generatedObjects = async () => {
      const found = new Map<string, { resourceVersion: string; object: Record<string, unknown> }>();
      for (const { apiVersion, kind, name } of GENERATED_OBJECTS) {
        const list = await rest.request<{ items: KubernetesObject[] }>(
          "GET",
          await rest.path(apiVersion, kind, null),
          {
            query: { fieldSelector: `metadata.name=${name}`, labelSelector: "skiff.dev/managed-by=default" },
          },
        );
        for (const item of list.items)
          found.set(`${kind} ${item.metadata!.namespace ?? ""}/${name}`, {
            resourceVersion: item.metadata!.resourceVersion!,
            object: item as Record<string, unknown>,
          });
      }
      return found;
    };
    // Each step sets, changes or drops what one or more generated objects hold.
    await converge({ controlPlane: { replicas: 1, resources: { limits: { memory: "256Mi" } } } });
    await labelNamespace("beta", "disabled");
    await meshControllerIdle();
    await converge({ controlPlane: { replicas: 1 } }); // drops the resources it set
    await converge({ controlPlane: { replicas: 1 }, observability: { metrics: { prometheusPort: 15099 } } });
    await labelNamespace("beta", "enabled");
    await meshControllerIdle();
    const incremental = await generatedObjects();
    const deployment = incremental.get("Deployment skiff-system/skiff-xds")!.object as {
      spec: { replicas: number; template: { spec: { containers: { resources?: object }[] } } };
    };
    assert.equal(deployment.spec.replicas, 1);
    assert.deepEqual(deployment.spec.template.spec.containers[0]!.resources ?? {}, {});
    assert.ok(incremental.has("ConfigMap beta/skiff-envoy-bootstrap"), [...incremental.keys()].join(", "));

    // A new process remembers no apply, so it applies every object once: none may change.
    await controller!.stop();
    const { requests } = await requestsDuring(startController);
    const fromScratch = await generatedObjects();
    assert.ok(
      requests.filter((r) => r.verb === "patch" && r.objectRef?.subresource === undefined).length >=
        incremental.size,
      "the new process applied everything",
    );
    assert.deepEqual(
      [...fromScratch].map(([key, { resourceVersion }]) => `${key} ${resourceVersion}`).sort(),
      [...incremental].map(([key, { resourceVersion }]) => `${key} ${resourceVersion}`).sort(),
    );
  });
});
