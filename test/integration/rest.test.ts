import assert from "node:assert/strict";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import { controlPlane } from "./controlplane.fixture.js";

describe("RestClient against a real API server", () => {
  it("sends a DELETE's options, so a precondition that does not hold refuses the delete", async () => {
    const rest = new RestClient(controlPlane().kubeConfig());
    const path = "/api/v1/namespaces/default/configmaps/rest-delete-options";
    await rest.request("POST", "/api/v1/namespaces/default/configmaps", {
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "rest-delete-options" } },
    });
    // Without a Content-Length, Node sends no body with a DELETE: the server saw no
    // options and deleted the object regardless (the local node's final Pod delete was ignored so).
    await assert.rejects(
      rest.request("DELETE", path, {
        body: { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } },
      }),
      (error: unknown) => error instanceof KubernetesApiError && error.statusCode === 409,
    );
    assert.ok(await rest.getIfExists(path), "the precondition kept the object");
    await rest.request("DELETE", path);
    assert.equal(await rest.getIfExists(path), undefined);
  });
});
