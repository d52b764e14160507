import assert from "node:assert/strict";
import { proxyIdentity } from "../../../src/xds/node.js";

describe("proxyIdentity", () => {
  const id = "sidecar~10.1.0.21~ratings-v1.bookinfo~bookinfo.svc.cluster.local";

  it("reads an Envoy sidecar and its Pod from the node id", () => {
    assert.deepEqual(proxyIdentity({ id, cluster: "", metadata: {} }), {
      kind: "sidecar",
      workload: "bookinfo/ratings-v1",
      certificates: false,
    });
  });

  it("reads a proxyless gRPC application, its Pod, and whether its bootstrap has certificates", () => {
    assert.deepEqual(
      proxyIdentity({
        id,
        cluster: "",
        metadata: { GENERATOR: "grpc", SKIFF_CERTIFICATE_PROVIDER: "default" },
      }),
      { kind: "proxyless", workload: "bookinfo/ratings-v1", certificates: true },
    );
    assert.deepEqual(proxyIdentity({ id: "grpc~client-1", cluster: "", metadata: { GENERATOR: "grpc" } }), {
      kind: "proxyless",
      certificates: false,
    });
  });

  it("takes only the provider the translator names: another instance name would be NACKed", () => {
    const identity = proxyIdentity({
      id: "grpc~x",
      cluster: "",
      metadata: { GENERATOR: "grpc", SKIFF_CERTIFICATE_PROVIDER: "mine" },
    });
    assert.equal(identity.certificates, false);
  });

  it("never gives a sidecar the proxyless clusters, even if it claims certificates", () => {
    assert.equal(
      proxyIdentity({ id, cluster: "", metadata: { SKIFF_CERTIFICATE_PROVIDER: "default" } }).certificates,
      false,
    );
  });
});
