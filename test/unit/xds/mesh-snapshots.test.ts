import assert from "node:assert/strict";
import { join } from "node:path";
import { compile } from "../../../src/compile/compile.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import type { ProxyNode } from "../../../src/xds/cache/snapshot.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import { CLUSTER_TYPE, LISTENER_TYPE, SECRET_TYPE } from "../../../src/xds/translate/resource.js";
import { translate } from "../../../src/xds/translate/translate.js";
import { identitySecrets } from "../../../src/xds/translate/identity-secrets.js";
import { clusterStateFromFiles } from "../../support/cluster-state.js";

/**
 * Which resources each kind of proxy is served, on the proxyless-mtls golden
 * case: proxyless clients with and without certificates, a proxyless server
 * Pod, and a sidecar.
 */
const DATA = join(import.meta.dirname, "..", "..", "testdata", "translate");
const RATINGS = "outbound|9090||ratings.bookinfo.svc.cluster.local";
const RATINGS_SERVER = "grpc/server?xds.resource.listening_address=10.1.0.21:9090";

function snapshots(): MeshSnapshots {
  const { model } = compile(
    clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "proxyless-mtls.yaml")),
  );
  const snapshots = new MeshSnapshots();
  snapshots.publish(translate(model));
  return snapshots;
}

const node = (id: string, metadata: ProxyNode["metadata"] = {}): ProxyNode => ({ id, cluster: "", metadata });
const names = (s: MeshSnapshots, n: ProxyNode, typeUrl: string) =>
  [...(s.snapshotFor(n).resources.get(typeUrl)?.keys() ?? [])].sort();
function clusterJson(s: MeshSnapshots, n: ProxyNode, name: string): Record<string, unknown> {
  const encoded = s.snapshotFor(n).resources.get(CLUSTER_TYPE)!.get(name)!;
  const fullName = "envoy.config.cluster.v3.Cluster";
  return messageToJson(fullName, decodeMessage(fullName, encoded.bytes)) as Record<string, unknown>;
}

describe("MeshSnapshots: what each proxy is served", () => {
  const grpcClient = node("grpc~client", { GENERATOR: "grpc" });
  const grpcClientWithCertificates = node("grpc~client", {
    GENERATOR: "grpc",
    SKIFF_CERTIFICATE_PROVIDER: "default",
  });
  const ratingsServer = node("sidecar~10.1.0.21~ratings-v1.bookinfo~bookinfo.svc.cluster.local", {
    GENERATOR: "grpc",
    SKIFF_CERTIFICATE_PROVIDER: "default",
  });
  const reviewsSidecar = node("sidecar~10.1.0.1~reviews-v1.bookinfo~bookinfo.svc.cluster.local");

  it("gives proxyless clients with certificates the mTLS variant of a cluster, and others the shared one", () => {
    const s = snapshots();
    assert.equal(clusterJson(s, grpcClient, RATINGS).transportSocket, undefined);
    const tls = clusterJson(s, grpcClientWithCertificates, RATINGS).transportSocket as { name: string };
    assert.equal(tls.name, "envoy.transport_sockets.tls");
    // Same names either way: the variant replaces the shared cluster, it is not added beside it.
    assert.deepEqual(names(s, grpcClient, CLUSTER_TYPE), names(s, grpcClientWithCertificates, CLUSTER_TYPE));
  });

  it("serves a proxyless server Pod its own gRPC server listeners, and nobody else", () => {
    const s = snapshots();
    const serverListeners = names(s, ratingsServer, LISTENER_TYPE).filter((n) =>
      n.startsWith("grpc/server?"),
    );
    assert.deepEqual(serverListeners, [
      "grpc/server?xds.resource.listening_address=0.0.0.0:9090",
      "grpc/server?xds.resource.listening_address=0.0.0.0:9091",
      RATINGS_SERVER,
      "grpc/server?xds.resource.listening_address=10.1.0.21:9091",
      "grpc/server?xds.resource.listening_address=[::]:9090",
      "grpc/server?xds.resource.listening_address=[::]:9091",
    ]);
    assert.ok(!names(s, grpcClientWithCertificates, LISTENER_TYPE).includes(RATINGS_SERVER));
    assert.ok(!names(s, reviewsSidecar, LISTENER_TYPE).includes(RATINGS_SERVER));
    assert.ok(names(s, reviewsSidecar, LISTENER_TYPE).includes("virtualInbound"));
    assert.ok(!names(s, ratingsServer, LISTENER_TYPE).includes("virtualInbound"));
  });

  it("shares one view among proxies whose Pods have no inbound side of their own", () => {
    const s = snapshots();
    const elsewhere = (pod: string) => node(`sidecar~10.9.0.1~${pod}.bench~bench.svc.cluster.local`);
    assert.equal(s.snapshotFor(elsewhere("load-1")), s.snapshotFor(elsewhere("load-2")));
    assert.notEqual(s.snapshotFor(reviewsSidecar), s.snapshotFor(elsewhere("load-1")));
  });

  it("gives an identity's Secrets only to a proxy whose identity was verified, whatever its metadata claims", () => {
    const s = snapshots();
    s.publishSecrets(
      { namespace: "bookinfo", serviceAccount: "bookinfo-ratings" },
      identitySecrets({
        trustBundlePem: "roots",
        spiffeId: "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-ratings",
        signerPem: "signer",
      }),
    );
    assert.deepEqual(names(s, ratingsServer, SECRET_TYPE), []);
    const verified = {
      ...ratingsServer,
      identity: { namespace: "bookinfo", serviceAccount: "bookinfo-ratings" },
    };
    assert.deepEqual(names(s, verified, SECRET_TYPE), ["ROOTCA", "skiff-issuer"]);
  });
});

describe("MeshSnapshots: what a change leaves alone", () => {
  it("keeps a type's map object across generations when none of its resources changed", () => {
    const { model } = compile(
      clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "proxyless-mtls.yaml")),
    );
    const s = new MeshSnapshots();
    const translated = translate(model);
    s.publish(translated);
    const sidecar = node("sidecar~10.1.0.99~nobody.bookinfo~bookinfo.svc.cluster.local");
    const before = s.snapshotFor(sidecar);

    // The same translation again, and then one with a listener dropped.
    s.publish(translate(model));
    const same = s.snapshotFor(sidecar);
    assert.notEqual(same.generation, before.generation);
    for (const [typeUrl, ofType] of before.resources)
      assert.equal(same.resources.get(typeUrl), ofType, typeUrl);

    const dropped = translated.sidecar.filter((r) => r.typeUrl === LISTENER_TYPE).slice(1);
    s.publish({
      ...translated,
      sidecar: [...translated.sidecar.filter((r) => r.typeUrl !== LISTENER_TYPE), ...dropped],
    });
    const changed = s.snapshotFor(sidecar);
    assert.notEqual(changed.resources.get(LISTENER_TYPE), same.resources.get(LISTENER_TYPE));
    assert.equal(changed.resources.get(LISTENER_TYPE)!.size, same.resources.get(LISTENER_TYPE)!.size - 1);
    assert.equal(changed.resources.get(CLUSTER_TYPE), same.resources.get(CLUSTER_TYPE));
  });
});
