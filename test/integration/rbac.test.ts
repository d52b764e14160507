import assert from "node:assert/strict";
import { join } from "node:path";
import { pino } from "pino";
import { parse, stringify } from "yaml";
import type { KubernetesObject } from "@kubernetes/client-node";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { kubeConfigFromYaml } from "../../src/k8s/kubeconfig.js";
import { applyManifests, readManifests } from "../../src/k8s/manifests.js";
import { RestClient } from "../../src/k8s/rest.js";
import { startOperator, type RunningOperator } from "../../src/operator/operator.js";
import { applyMesh, meshConditionStatus } from "../support/operator.js";
import { eventually } from "./kubectl.js";

const RBAC = join(repositoryRoot(), "config", "rbac");
const OPERATOR_USER = "system:serviceaccount:skiff-system:skiff-operator";

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}

describe("the operator's RBAC (config/rbac)", () => {
  it("uses no wildcard verb, resource or API group", async () => {
    const wildcards: string[] = [];
    for (const obj of await readManifests(RBAC)) {
      for (const [i, rule] of (((obj as { rules?: Rule[] }).rules ?? []) as Rule[]).entries()) {
        for (const field of ["apiGroups", "resources", "verbs", "nonResourceURLs"] as const) {
          if (rule[field]?.some((v) => v.includes("*")))
            wildcards.push(`${obj.metadata!.name} rules[${i}].${field}`);
        }
      }
    }
    assert.deepEqual(wildcards, []);
  });

  describe("is enough to run the operator as its ServiceAccount", () => {
    let plane: LocalControlPlane;
    let operator: RunningOperator | undefined;
    const errors: string[] = [];

    before(async () => {
      plane = await LocalControlPlane.start();
      const admin = plane.kubeConfig();
      await new ServerSideApplier(admin, "test").apply({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "skiff-system" },
      } as KubernetesObject);
      await applyManifests(admin, "test", await readManifests(RBAC));
    });
    after(async () => {
      try {
        await operator?.stop();
      } finally {
        await plane?.stop(); // a control plane left running would keep mocha from exiting
      }
    });

    it("creates, updates and deletes a Mesh's objects with no permission error", async () => {
      // The admin's certificate, impersonating the operator's ServiceAccount: every request is authorized as the SA.
      const doc = parse(plane.kubeconfig) as { users: { user: Record<string, string> }[] };
      doc.users[0]!.user.as = OPERATOR_USER;
      const asOperator = kubeConfigFromYaml(stringify(doc));
      const logger = pino(
        { level: "warn" },
        {
          write: (line: string) => {
            errors.push(line);
          },
        },
      );
      operator = await startOperator(asOperator, {
        logger,
        image: "skiff:test",
        httpAddress: "127.0.0.1:0",
        leaderElection: true,
        leaseNamespace: "skiff-system",
      });

      const admin = new ServerSideApplier(plane.kubeConfig(), "test");
      const rest = new RestClient(plane.kubeConfig());
      await admin.apply({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "books", labels: { "skiff.dev/injection": "enabled" } },
      } as KubernetesObject);
      await applyMesh(admin);
      await eventually(async () => {
        assert.equal(await meshConditionStatus(rest, "InjectionConfigured"), "True");
        await rest.request("GET", "/api/v1/namespaces/books/configmaps/skiff-trust-bundle");
      });
      await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default");
      await eventually(async () =>
        assert.equal(await rest.getIfExists("/apis/skiff.dev/v1alpha1/meshes/default"), undefined),
      );
      assert.deepEqual(
        errors.filter((line) => /forbidden|Forbidden|403/.test(line)),
        [],
        "no request was refused",
      );
    });

    it("is really narrower than system:masters: the ServiceAccount cannot change Secrets", async () => {
      const doc = parse(plane.kubeconfig) as { users: { user: Record<string, string> }[] };
      doc.users[0]!.user.as = OPERATOR_USER;
      const rest = new RestClient(kubeConfigFromYaml(stringify(doc)));
      await assert.rejects(
        rest.request("DELETE", "/api/v1/namespaces/skiff-system/secrets/skiff-ca"),
        /403 Forbidden/,
      );
    });
  });
});
