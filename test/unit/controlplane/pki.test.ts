import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { createLocalPki, KUBELET_CLIENT_USER } from "../../../src/controlplane/pki.js";

describe("the local control plane's certificates", () => {
  it("chain the serving and admin certificates to one CA, for the right names and uses", async () => {
    const pki = await createLocalPki("tester");
    const ca = new X509Certificate(pki.ca.certPem);
    const serving = new X509Certificate(pki.serving.certPem);
    const admin = new X509Certificate(pki.admin.certPem);

    assert.ok(ca.ca, "the CA is a CA");
    for (const leaf of [serving, admin]) {
      assert.ok(leaf.checkIssued(ca));
      assert.ok(leaf.verify(ca.publicKey));
      assert.equal(leaf.ca, false);
    }
    assert.ok(serving.checkHost("localhost"));
    assert.ok(serving.checkIP("127.0.0.1"));
    assert.deepEqual(serving.keyUsage, ["1.3.6.1.5.5.7.3.1"]); // serverAuth
    assert.deepEqual(admin.keyUsage, ["1.3.6.1.5.5.7.3.2"]); // clientAuth
    // The API server maps CN to the user and O to groups.
    assert.match(admin.subject, /CN=tester/);
    assert.match(admin.subject, /O=system:masters/);
  });

  it("pairs each certificate with its own private key", async () => {
    const pki = await createLocalPki();
    for (const pair of [pki.ca, pki.serving, pki.admin, pki.kubeletClient]) {
      assert.ok(new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem)));
    }
    const derived = createPublicKey(createPrivateKey(pki.serviceAccount.privatePem)).export({
      type: "spki",
      format: "pem",
    });
    assert.equal(derived, pki.serviceAccount.publicPem.replace(/\r\n/g, "\n").trimEnd() + "\n");
  });

  it("gives the API server a client certificate toward kubelets, as a user of no group", async () => {
    const pki = await createLocalPki();
    const kubeletClient = new X509Certificate(pki.kubeletClient.certPem);
    assert.ok(kubeletClient.checkIssued(new X509Certificate(pki.ca.certPem)));
    assert.deepEqual(kubeletClient.keyUsage, ["1.3.6.1.5.5.7.3.2"]); // clientAuth
    assert.equal(kubeletClient.subject, `CN=${KUBELET_CLIENT_USER}`);
  });

  it("makes new keys every time", async () => {
    const [a, b] = await Promise.all([createLocalPki(), createLocalPki()]);
    assert.notEqual(a.ca.keyPem, b.ca.keyPem);
    assert.notEqual(a.serviceAccount.privatePem, b.serviceAccount.privatePem);
  });
});
