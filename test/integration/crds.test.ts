import assert from "node:assert/strict";
import { join } from "node:path";
import { ApiextensionsV1Api } from "@kubernetes/client-node";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { readCrds } from "../../src/controlplane/crds.js";
import { RestClient } from "../../src/k8s/rest.js";
import { controlPlane } from "./controlplane.fixture.js";

describe("the CRDs on a real API server", () => {
  it("are all Established with their names accepted", async () => {
    const api = controlPlane().kubeConfig().makeApiClient(ApiextensionsV1Api);
    const names = (await readCrds(join(repositoryRoot(), "crds"))).map((c) => c.metadata!.name!);
    assert.deepEqual(names.sort(), [
      "authorizationpolicies.skiff.dev",
      "meshes.skiff.dev",
      "peerauthentications.skiff.dev",
      "trafficpolicies.skiff.dev",
    ]);
    for (const name of names) {
      const crd = await api.readCustomResourceDefinition({ name });
      const status = (type: string) => crd.status?.conditions?.find((c) => c.type === type)?.status;
      assert.equal(status("Established"), "True", name);
      assert.equal(status("NamesAccepted"), "True", name);
    }
  });

  // Regression: installing through a typed client once dropped enum, default and
  // x-kubernetes-validations from every schema under `properties`.
  it("are stored with exactly the schema in crds/, rules and defaults included", async () => {
    const rest = new RestClient(controlPlane().kubeConfig());
    for (const local of await readCrds(join(repositoryRoot(), "crds"))) {
      const stored = await rest.request<typeof local>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${local.metadata!.name}`,
      );
      assert.deepEqual(stored.spec.versions, local.spec.versions, local.metadata!.name);
    }
  });
});
