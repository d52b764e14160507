import assert from "node:assert/strict";
import type { KubernetesObject } from "@kubernetes/client-node";
import {
  apply,
  deleteNamespace,
  FORTIO_IMAGE,
  meshCluster,
  rest,
  skipUnlessSupported,
  waitFor,
} from "./kit.js";

const NS = "e2e-localnode";

interface PodLike extends KubernetesObject {
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      restartCount: number;
      ready: boolean;
      state?: {
        waiting?: { reason?: string; message?: string };
        running?: object;
        terminated?: { exitCode: number };
      };
      lastState?: { terminated?: { exitCode: number } };
    }[];
  };
}

function pod(name: string, containers: object[], extra: object = {}): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: { terminationGracePeriodSeconds: 2, containers, ...extra },
  };
}

/** Waits until the named Pod's status satisfies `check`. */
function podWhere(name: string, check: (p: PodLike) => boolean, what: string): Promise<PodLike> {
  return waitFor<PodLike>(
    meshCluster().kubeConfig,
    "v1",
    "Pod",
    NS,
    (pods) => pods.some((p) => p.metadata?.name === name && check(p)),
    120_000,
    `${NS}/${name}: ${what}`,
  ).then((pods) => pods.find((p) => p.metadata?.name === name)!);
}

const container = (p: PodLike, name = "app") => p.status?.containerStatuses?.find((c) => c.name === name);

describe("the local node runs Pods as a kubelet would", function () {
  before(async function () {
    skipUnlessSupported(this);
    // No injection label: these Pods have no sidecar.
    await apply([{ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }]);
    await waitFor(meshCluster().kubeConfig, "v1", "ServiceAccount", NS, (a) =>
      a.some((x) => x.metadata?.name === "default"),
    );
  });
  after(() => deleteNamespace(NS));

  it("says ErrImagePull, naming the images it has, for an image it cannot run; nothing crashes", async () => {
    await apply([pod("unknown-image", [{ name: "app", image: "nginx:1.27" }])]);
    const p = await podWhere(
      "unknown-image",
      (x) => container(x)?.state?.waiting?.reason === "ErrImagePull",
      "ErrImagePull",
    );
    assert.match(container(p)!.state!.waiting!.message!, /nginx:1\.27.*fortio\/fortio/);
    assert.equal(p.status?.phase, "Pending");
  });

  it("says CreateContainerConfigError for a missing ConfigMap, and starts once it exists", async () => {
    await apply([
      pod("needs-config", [
        { name: "app", image: FORTIO_IMAGE, envFrom: [{ configMapRef: { name: "settings" } }] },
      ]),
    ]);
    const waiting = await podWhere(
      "needs-config",
      (x) => container(x)?.state?.waiting?.reason === "CreateContainerConfigError",
      "CreateContainerConfigError",
    );
    assert.match(container(waiting)!.state!.waiting!.message!, /configmap "settings" not found/);
    await apply([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "settings", namespace: NS },
        data: { A: "1" },
      },
    ]);
    await podWhere("needs-config", (x) => Boolean(container(x)?.state?.running), "running");
  });

  it("restarts a container that exits, counting restarts, and reports the exit code", async () => {
    await apply([
      pod("crashes", [{ name: "app", image: FORTIO_IMAGE, command: ["sh"], args: ["-c", "exit 3"] }]),
    ]);
    const p = await podWhere("crashes", (x) => (container(x)?.restartCount ?? 0) >= 2, "two restarts");
    assert.equal(container(p)!.lastState?.terminated?.exitCode, 3);
  });

  it("gives env, downward API and ConfigMap volumes, and a projected token for the audience asked", async () => {
    await apply([
      {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "files", namespace: NS },
        data: { "greeting.txt": "hello" },
      },
      pod(
        "volumes",
        [
          {
            name: "app",
            image: FORTIO_IMAGE,
            env: [{ name: "MY_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }],
            volumeMounts: [
              { name: "files", mountPath: "/etc/skiff-e2e/files" },
              { name: "token", mountPath: "/var/run/secrets/skiff-e2e" },
            ],
          },
        ],
        {
          volumes: [
            { name: "files", configMap: { name: "files" } },
            {
              name: "token",
              projected: {
                sources: [
                  { serviceAccountToken: { audience: "skiff-e2e", expirationSeconds: 3600, path: "token" } },
                ],
              },
            },
          ],
        },
      ),
    ]);
    const p = await podWhere("volumes", (x) => Boolean(container(x)?.state?.running), "running");
    // What the container sees is in its own mount namespace: read it from the running process.
    const pid = containerPid("volumes");
    const read = (path: string) => execInContainer(pid, ["cat", path]);
    assert.equal(await read("/etc/skiff-e2e/files/greeting.txt"), "hello");
    const token = await read("/var/run/secrets/skiff-e2e/token");
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as {
      aud: string[];
      sub: string;
    };
    assert.deepEqual(claims.aud, ["skiff-e2e"]);
    assert.equal(claims.sub, `system:serviceaccount:${NS}:default`);
    const environ = (await execInContainer(pid, ["cat", `/proc/${pid}/environ`])).split("\0");
    assert.ok(environ.includes(`MY_IP=${p.status!.podIP}`), environ.join(" "));
    assert.ok(environ.includes("KUBERNETES_SERVICE_HOST=10.0.0.1"));
  });

  it("restarts kube-proxy and CoreDNS when they die: Service names and addresses work again", async () => {
    await podWhere("needs-config", (x) => Boolean(container(x)?.state?.running), "running");
    const node = meshCluster().node;
    for (const component of ["coredns", "kube-proxy"] as const) {
      const killed = node.componentPid(component);
      assert.ok(killed, `${component} runs`);
      process.kill(killed, "SIGKILL");
      await until(() => {
        const pid = node.componentPid(component);
        return pid !== undefined && pid !== killed;
      }, `${component} restarted`);
    }
    // A name CoreDNS answers, at an address kube-proxy's rules lead to the API server.
    const result = await node.exec(NS, "needs-config", [
      "curl",
      "-sk",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "https://kubernetes.default.svc.cluster.local/version",
    ]);
    assert.match(result.stdout, /^[2-4]\d\d$/, `${result.stdout} ${result.stderr}`);
  });

  it("turns Ready on and off as an exec readiness probe passes and fails, and deletes the Pod gracefully", async () => {
    await apply([
      pod(
        "probed",
        [
          {
            name: "app",
            image: FORTIO_IMAGE,
            volumeMounts: [{ name: "data", mountPath: "/var/lib/skiff-e2e" }],
            readinessProbe: {
              exec: { command: ["cat", "/var/lib/skiff-e2e/ready"] },
              periodSeconds: 1,
              failureThreshold: 1,
            },
          },
        ],
        { volumes: [{ name: "data", emptyDir: {} }] },
      ),
    ]);
    const ready = (want: string) => (x: PodLike) =>
      x.status?.conditions?.some((c) => c.type === "Ready" && c.status === want) === true;
    await podWhere(
      "probed",
      (x) => Boolean(container(x)?.state?.running) && ready("False")(x),
      "running, not Ready",
    );
    const pid = containerPid("probed");
    await execInContainer(pid, ["touch", "/var/lib/skiff-e2e/ready"]);
    await podWhere("probed", ready("True"), "Ready");
    await execInContainer(pid, ["rm", "/var/lib/skiff-e2e/ready"]);
    await podWhere("probed", ready("False"), "not Ready again");

    await rest().request("DELETE", `/api/v1/namespaces/${NS}/pods/probed`);
    await waitFor(
      meshCluster().kubeConfig,
      "v1",
      "Pod",
      NS,
      (pods) => !pods.some((x) => x.metadata?.name === "probed"),
      60_000,
      "probed gone",
    );
    assert.throws(() => process.kill(pid, 0), "the container's process is gone");
  });
});

/** Waits until `check` holds (the node's own state, which no watch reports), for up to a minute. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The host pid of a Pod's container "app". */
function containerPid(name: string): number {
  const pid = meshCluster().node.containerPid(NS, name, "app");
  if (pid === undefined) throw new Error(`${NS}/${name} has no running container app`);
  return pid;
}

async function execInContainer(pid: number, command: string[]): Promise<string> {
  const { execFileSync } = await import("node:child_process");
  return execFileSync("nsenter", ["-t", String(pid), "-m", "--", ...command]).toString();
}
