import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import {
  DEFAULT_OPERATOR_NAMESPACE,
  INSTALLED_RESOURCES,
  OPERATOR_DEPLOYMENT,
  SKIFF_API_VERSION,
  SKIFF_CRDS,
  WEBHOOK_CONFIGURATIONS,
  WEBHOOK_SECRET,
  WEBHOOK_SERVICE,
} from "../../../../src/cli/check/installation.js";
import { repositoryRoot } from "../../../../src/controlplane/binaries.js";
import { readManifests } from "../../../../src/k8s/manifests.js";

const CONFIG = join(repositoryRoot(), "config");

/** Every object `kubectl apply -k config/default` installs, read from the folders its kustomization lists. */
async function installedObjects(): Promise<KubernetesObject[]> {
  const folders = ["rbac", "manager", "webhook"].map((f) => join(CONFIG, f));
  const objects = [
    ...(await readManifests(join(CONFIG, "default", "namespace.yaml"))),
    ...(await readManifests(join(repositoryRoot(), "crds"))),
  ];
  for (const folder of folders) objects.push(...(await readManifests(folder)));
  return objects;
}

describe("skiff check's picture of an installation, held to config/ and crds/", () => {
  it("asks for create of exactly the kinds config/default installs", async () => {
    const kinds = new Set(
      (await installedObjects()).map((o) => `${o.apiVersion?.replace(/\/?v1$/, "")}/${o.kind}`),
    );
    const asked = new Set(INSTALLED_RESOURCES.map((r) => `${r.group}/${r.kind}`));
    assert.deepEqual([...asked].sort(), [...kinds].sort());
  });

  it("asks in the namespace the namespaced objects go to, and cluster-wide for the others", async () => {
    for (const object of await installedObjects()) {
      const resource = INSTALLED_RESOURCES.find((r) => r.kind === object.kind)!;
      const namespaced = object.metadata?.namespace !== undefined;
      // The CRDs, Namespace, ClusterRoles and webhook configurations have none.
      assert.equal(resource.namespaced, namespaced, object.kind);
      if (namespaced) assert.equal(object.metadata?.namespace, DEFAULT_OPERATOR_NAMESPACE);
    }
  });

  it("names the CRDs in crds/, each serving and storing the API version it checks", async () => {
    const crds = (await readManifests(join(repositoryRoot(), "crds"))) as (KubernetesObject & {
      spec: { versions: { name: string; served: boolean; storage: boolean }[] };
    })[];
    assert.deepEqual(crds.map((c) => c.metadata?.name).sort(), [...SKIFF_CRDS]);
    for (const crd of crds)
      assert.ok(crd.spec.versions.some((v) => v.name === SKIFF_API_VERSION && v.served && v.storage));
  });

  it("names the operator's Deployment, webhook Service, Secret and configurations as config/ does", async () => {
    const objects = await installedObjects();
    const named = (kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata?.name);
    assert.deepEqual(named("Deployment"), [OPERATOR_DEPLOYMENT]);
    assert.deepEqual(named("Service"), [WEBHOOK_SERVICE]);
    assert.deepEqual(
      [...named("MutatingWebhookConfiguration"), ...named("ValidatingWebhookConfiguration")],
      WEBHOOK_CONFIGURATIONS.map((w) => w.name),
    );
    const manager = await readFile(join(CONFIG, "manager", "manager.yaml"), "utf8");
    assert.match(manager, new RegExp(`--webhook-secret=${WEBHOOK_SECRET}\\n`));
    assert.match(manager, new RegExp(`--webhook-service=${WEBHOOK_SERVICE}\\n`));
  });

  it("states the minimum Kubernetes version for a reason the CRDs still have: CEL's isCIDR and isIP (1.31)", async () => {
    const crds = await Promise.all(
      SKIFF_CRDS.map((name) =>
        readFile(join(repositoryRoot(), "crds", `skiff.dev_${name.split(".")[0]}.yaml`), "utf8"),
      ),
    );
    assert.ok(crds.some((text) => /isCIDR\(|isIP\(/.test(text)));
  });
});
