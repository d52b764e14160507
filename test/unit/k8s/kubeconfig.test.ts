import assert from "node:assert/strict";
import { parse } from "yaml";
import { kubeConfigFromYaml, kubeconfigYaml } from "../../../src/k8s/kubeconfig.js";

describe("kubeconfig", () => {
  const yaml = kubeconfigYaml({
    name: "skiff-local",
    server: "https://127.0.0.1:6443",
    caPem: "CA",
    certPem: "CERT",
    keyPem: "KEY",
  });

  it("embeds the credentials, so the file stands alone", () => {
    const doc = parse(yaml) as {
      clusters: { cluster: Record<string, string> }[];
      users: { user: Record<string, string> }[];
    };
    assert.equal(
      Buffer.from(doc.clusters[0]!.cluster["certificate-authority-data"]!, "base64").toString(),
      "CA",
    );
    assert.equal(Buffer.from(doc.users[0]!.user["client-certificate-data"]!, "base64").toString(), "CERT");
    assert.equal(Buffer.from(doc.users[0]!.user["client-key-data"]!, "base64").toString(), "KEY");
  });

  it("is read by @kubernetes/client-node with its context current", () => {
    const kc = kubeConfigFromYaml(yaml);
    assert.equal(kc.getCurrentContext(), "skiff-local");
    assert.equal(kc.getCurrentCluster()?.server, "https://127.0.0.1:6443");
    assert.equal(kc.getCurrentUser()?.name, "skiff-local");
  });
});
