import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import { skiffVersion } from "../../src/cli/image.js";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { kubectl, kubectlOk } from "./kubectl.js";

const DEFAULT = join(repositoryRoot(), "config", "default");
const NAMESPACE = "skiff-system";

/** What the install creates, as `kubectl apply -o name` prints it. */
const EXPECTED = [
  "namespace/skiff-system",
  "customresourcedefinition.apiextensions.k8s.io/authorizationpolicies.skiff.dev",
  "customresourcedefinition.apiextensions.k8s.io/meshes.skiff.dev",
  "customresourcedefinition.apiextensions.k8s.io/peerauthentications.skiff.dev",
  "customresourcedefinition.apiextensions.k8s.io/trafficpolicies.skiff.dev",
  "serviceaccount/skiff-operator",
  "clusterrole.rbac.authorization.k8s.io/skiff-operator",
  "clusterrolebinding.rbac.authorization.k8s.io/skiff-operator",
  "role.rbac.authorization.k8s.io/skiff-operator-mesh",
  "rolebinding.rbac.authorization.k8s.io/skiff-operator-mesh",
  "role.rbac.authorization.k8s.io/skiff-operator-leader-election",
  "rolebinding.rbac.authorization.k8s.io/skiff-operator-leader-election",
  "role.rbac.authorization.k8s.io/skiff-operator-webhook",
  "rolebinding.rbac.authorization.k8s.io/skiff-operator-webhook",
  // What skiff proxy-status mints its CSDS token for (config/rbac/mesh_reader.yaml).
  "serviceaccount/skiff-mesh-reader",
  "clusterrole.rbac.authorization.k8s.io/skiff-mesh-reader",
  "clusterrolebinding.rbac.authorization.k8s.io/skiff-mesh-reader",
  "deployment.apps/skiff-operator",
  "poddisruptionbudget.policy/skiff-operator",
  "service/skiff-webhook",
  "mutatingwebhookconfiguration.admissionregistration.k8s.io/skiff-sidecar-injector",
  "validatingwebhookconfiguration.admissionregistration.k8s.io/skiff-validation",
];

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string }[];
}

interface PodSpec {
  containers: Container[];
  [field: string]: unknown;
}

interface Webhook {
  name: string;
  failurePolicy: string;
  clientConfig: { service: { namespace: string; name: string; path: string; port: number } };
}

const parseAll = (yaml: string): Obj[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

const find = (objects: Obj[], kind: string, name: string): Obj => {
  const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(obj, `${kind}/${name} is in the output`);
  return obj;
};

const podSpec = (deployment: Obj) =>
  (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;

const operatorContainer = (objects: Obj[]): Container => {
  const container = podSpec(find(objects, "Deployment", "skiff-operator")).containers.find(
    (c) => c.name === "operator",
  );
  assert.ok(container, "the Deployment has an `operator` container");
  return container;
};

describe("the kustomize install (config/default)", () => {
  let objects: Obj[];

  before(async () => {
    objects = parseAll(await kubectlOk(["kustomize", DEFAULT]));
  });

  describe("kubectl kustomize config/default", () => {
    it("runs the pinned release image, package.json's version", async () => {
      assert.equal(operatorContainer(objects).image, `ghcr.io/skiff-dev/skiff:${await skiffVersion()}`);
    });

    it("sets SKIFF_IMAGE to the container's own image (the replacement works)", () => {
      const container = operatorContainer(objects);
      const env = container.env?.find((e) => e.name === "SKIFF_IMAGE");
      assert.equal(env?.value, container.image);
    });

    it("puts every namespaced object, and the webhooks' Service, in skiff-system", () => {
      const webhooks = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"].flatMap(
        (kind) => (objects.find((o) => o.kind === kind)?.webhooks ?? []) as Webhook[],
      );
      assert.deepEqual(
        webhooks.map((w) => [w.name, w.clientConfig.service]),
        [
          ["inject.skiff.dev", { namespace: NAMESPACE, name: "skiff-webhook", path: "/inject", port: 443 }],
          [
            "validate.skiff.dev",
            { namespace: NAMESPACE, name: "skiff-webhook", path: "/validate", port: 443 },
          ],
        ],
      );
      const clusterScoped = new Set([
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
      ]);
      for (const obj of objects) {
        const expected = clusterScoped.has(obj.kind) ? undefined : NAMESPACE;
        assert.equal(obj.metadata.namespace, expected, `${obj.kind}/${obj.metadata.name}`);
      }
      for (const binding of objects.filter((o) => o.kind.endsWith("RoleBinding"))) {
        for (const subject of binding.subjects as { kind: string; namespace?: string }[])
          assert.equal(subject.namespace, NAMESPACE, `${binding.kind}/${binding.metadata.name}`);
      }
    });

    it("grants no RBAC rule with a wildcard", () => {
      const wildcards: string[] = [];
      for (const obj of objects.filter((o) => o.kind === "ClusterRole" || o.kind === "Role")) {
        for (const [i, rule] of (obj.rules as Record<string, string[] | undefined>[]).entries()) {
          for (const [field, values] of Object.entries(rule)) {
            if (values?.some((v) => v.includes("*")))
              wildcards.push(`${obj.kind}/${obj.metadata.name} rules[${i}].${field}`);
          }
        }
      }
      assert.deepEqual(wildcards, []);
    });

    it("selects the operator's pods from the webhook Service and the PodDisruptionBudget", () => {
      const podLabels = (
        find(objects, "Deployment", "skiff-operator") as unknown as {
          spec: { template: { metadata: { labels: Record<string, string> } } };
        }
      ).spec.template.metadata.labels;
      const service = find(objects, "Service", "skiff-webhook") as unknown as {
        spec: { selector: Record<string, string>; ports: { port: number; targetPort: number }[] };
      };
      const pdb = find(objects, "PodDisruptionBudget", "skiff-operator") as unknown as {
        spec: { selector: { matchLabels: Record<string, string> } };
      };
      for (const selector of [service.spec.selector, pdb.spec.selector.matchLabels]) {
        for (const [key, value] of Object.entries(selector)) assert.equal(podLabels[key], value, key);
      }
      assert.deepEqual(
        service.spec.ports.map((p) => [p.port, p.targetPort]),
        [[443, 9443]],
      );
    });

    it("passes only options that `skiff operator` accepts", async () => {
      // parseArgs rejects an unknown option before --help is looked at, so
      // this fails exactly when the Deployment would crash-loop on its args.
      const args = operatorContainer(objects).args ?? [];
      assert.equal(args[0], "operator");
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", join(repositoryRoot(), "src", "cli", "main.ts"), ...args, "--help"],
        { cwd: repositoryRoot() },
      );
      assert.match(stdout, /Usage: skiff operator/);
    });

    it("switches sidecar injection to failurePolicy Ignore with the example patch", async () => {
      // The overlay a user would write, outside the repository, as the patch file describes.
      const overlay = await mkdtemp(join(tmpdir(), "skiff-overlay-"));
      try {
        await copyFile(
          join(DEFAULT, "injection_failure_policy_ignore_patch.yaml"),
          join(overlay, "patch.yaml"),
        );
        await writeFile(
          join(overlay, "kustomization.yaml"),
          stringify({ resources: [relative(overlay, DEFAULT)], patches: [{ path: "patch.yaml" }] }),
        );
        const patched = parseAll(await kubectlOk(["kustomize", overlay]));
        const policies = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"].map((kind) =>
          ((patched.find((o) => o.kind === kind)?.webhooks ?? []) as Webhook[]).map((w) => [
            w.name,
            w.failurePolicy,
          ]),
        );
        assert.deepEqual(policies, [[["inject.skiff.dev", "Ignore"]], [["validate.skiff.dev", "Ignore"]]]);
        const unpatched = (find(objects, "MutatingWebhookConfiguration", "skiff-sidecar-injector").webhooks ??
          []) as Webhook[];
        assert.equal(unpatched[0]?.failurePolicy, "Fail", "config/default itself keeps Fail");
      } finally {
        await rm(overlay, { recursive: true, force: true });
      }
    });
  });

  describe("kubectl apply -k config/default --dry-run=server", () => {
    before(async () => {
      // A server-side dry run persists nothing, not even the Namespace at the
      // top of the same apply, so every namespaced object after it fails with
      // `namespaces "skiff-system" not found`. A real install creates the
      // Namespace first, so do that for real here. It stays: deleting a
      // namespace needs kube-controller-manager, which this control plane does
      // not run, and later tests use skiff-system anyway. (Applied, not
      // created, in case an earlier test's Mesh already made it.)
      await kubectlOk(
        ["apply", "--server-side", "--field-manager=skiff-test", "-f", "-"],
        stringify(find(objects, "Namespace", NAMESPACE)),
      );
    });

    it("is accepted by the API server, and names every object of the install", async () => {
      const result = await kubectl(["apply", "-k", DEFAULT, "--dry-run=server", "-o", "name"]);
      assert.equal(result.code, 0, result.stderr);
      // The namespace warns on the restricted Pod Security Standard (warn label): no warning, no violation.
      assert.doesNotMatch(result.stderr, /PodSecurity/);
      assert.deepEqual(result.stdout.trim().split("\n").sort(), [...EXPECTED].sort());
    });

    it("runs a pod that the restricted Pod Security Standard admits (enforced on skiff-system)", async () => {
      // Pod Security admission checks Deployments only for warnings; it
      // enforces on pods, which nothing here creates (no controller-manager).
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "skiff-operator-pod-security-check", namespace: NAMESPACE },
        spec: podSpec(find(objects, "Deployment", "skiff-operator")),
      };
      await kubectlOk(["create", "--dry-run=server", "-f", "-"], JSON.stringify(pod));
    });
  });
});
