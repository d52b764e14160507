import assert from "node:assert/strict";
import type { EncodedResource } from "../../../../src/xds/cache/snapshot.js";
import type { ProxyState, ProxyTypeStatus } from "../../../../src/xds/server/proxy-state.js";
import {
  ClientResourceStatus,
  ConfigStatus,
  clientStatusOf,
  SERVER_METADATA,
} from "../../../../src/xds/status/client-config.js";

const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

const resource = (name: string, version: string): EncodedResource => ({
  typeUrl: CLUSTER,
  name,
  version,
  bytes: new TextEncoder().encode(`${name}@${version}`),
});
const resources = (...list: EncodedResource[]) => new Map(list.map((r) => [r.name, r]));

const v1 = resources(resource("a", "1"), resource("b", "1"));
const v2 = resources(resource("a", "2"), resource("b", "1"));
const ackedAt = new Date("2026-12-04T10:00:00Z");
const nackedAt = new Date("2026-12-04T10:00:05Z");

const proxy = (type: Partial<ProxyTypeStatus>): ProxyState => ({
  streamId: 7,
  protocol: "delta",
  node: {
    id: "sidecar~10.0.0.9~reviews-v1.shop~shop.svc.cluster.local",
    cluster: "reviews",
    metadata: { ISTIO_VERSION: "x", [SERVER_METADATA.kind]: "forged" },
    identity: { namespace: "shop", serviceAccount: "reviews", pod: "reviews-v1" },
  },
  peer: "ipv4:127.0.0.1:5555",
  connectedAt: new Date("2026-12-04T09:59:00Z"),
  types: [{ typeUrl: CLUSTER, awaitingAnswer: false, names: ["a", "b"], ...type }],
});

const synced: Partial<ProxyTypeStatus> = {
  lastSentGeneration: 1,
  lastSentVersion: "v-1",
  lastSentResources: v1,
  lastAckedGeneration: 1,
  lastAckedVersion: "v-1",
  lastAckedResources: v1,
  lastAckedAt: ackedAt,
};

describe("CSDS: a proxy's state as a ClientConfig", () => {
  it("names the node, its kind, Pod and proven identity, overriding what the proxy claims", () => {
    const { node } = clientStatusOf(proxy(synced), false);
    assert.equal(node.id, "sidecar~10.0.0.9~reviews-v1.shop~shop.svc.cluster.local");
    assert.equal(node.cluster, "reviews");
    assert.deepEqual(node.metadata, {
      ISTIO_VERSION: "x",
      SKIFF_PROXY_KIND: "sidecar",
      SKIFF_POD: "shop/reviews-v1",
      SKIFF_IDENTITY: "shop/reviews",
      SKIFF_XDS_PROTOCOL: "delta",
      SKIFF_CONNECTED_AT: "2026-12-04T09:59:00.000Z",
    });
    const proxyless = proxy(synced);
    const grpc = { ...proxyless, node: { id: "grpc~client", cluster: "", metadata: { GENERATOR: "grpc" } } };
    assert.deepEqual(clientStatusOf(grpc, false).node.metadata, {
      GENERATOR: "grpc",
      SKIFF_PROXY_KIND: "proxyless",
      SKIFF_XDS_PROTOCOL: "delta",
      SKIFF_CONNECTED_AT: "2026-12-04T09:59:00.000Z",
    });
  });

  it("SYNCED/ACKED: each resource as the ACKed response carried it, with the ACK's time and version", () => {
    const { resources: entries } = clientStatusOf(proxy(synced), false);
    assert.deepEqual(entries, [
      {
        typeUrl: CLUSTER,
        name: "a",
        versionInfo: "v-1",
        resource: v1.get("a"),
        lastUpdated: ackedAt,
        configStatus: ConfigStatus.SYNCED,
        clientStatus: ClientResourceStatus.ACKED,
      },
      {
        typeUrl: CLUSTER,
        name: "b",
        versionInfo: "v-1",
        resource: v1.get("b"),
        lastUpdated: ackedAt,
        configStatus: ConfigStatus.SYNCED,
        clientStatus: ClientResourceStatus.ACKED,
      },
    ]);
  });

  it("STALE/REQUESTED: a newer version sent and not yet answered shows what was sent", () => {
    const stale = proxy({
      ...synced,
      lastSentGeneration: 2,
      lastSentVersion: "v-2",
      lastSentResources: v2,
      awaitingAnswer: true,
    });
    const [a] = clientStatusOf(stale, false).resources;
    assert.equal(a!.configStatus, ConfigStatus.STALE);
    assert.equal(a!.clientStatus, ClientResourceStatus.REQUESTED);
    assert.equal(a!.versionInfo, "v-2");
    assert.equal(a!.resource, v2.get("a"));
    assert.equal(a!.lastUpdated, ackedAt, "the last ACK is still when it was last updated");
  });

  it("STALE: the node says since when each unanswered type waits, and the version the proxy last ACKed", () => {
    const sentAt = new Date("2026-12-04T10:00:09Z");
    const stale = proxy({
      ...synced,
      lastSentGeneration: 2,
      lastSentVersion: "v-2",
      lastSentAt: sentAt,
      lastSentResources: v2,
      awaitingAnswer: true,
    });
    assert.deepEqual(clientStatusOf(stale, true).node.metadata[SERVER_METADATA.awaitingAnswer], {
      [CLUSTER]: { sentAt: sentAt.toISOString(), sentVersion: "v-2", ackedVersion: "v-1" },
    });
    const answered = proxy({ ...synced, lastSentAt: sentAt });
    assert.equal(clientStatusOf(answered, true).node.metadata[SERVER_METADATA.awaitingAnswer], undefined);
  });

  it("ERROR/NACKED: Envoy's detail, the rejected version and resource; the entry shows what the proxy still runs", () => {
    const nacked = proxy({
      ...synced,
      lastSentGeneration: 2,
      lastSentVersion: "v-2",
      lastSentResources: v2,
      lastNack: { generation: 2, version: "v-2", message: "cluster a: bad lb policy", at: nackedAt },
    });
    const [a] = clientStatusOf(nacked, false).resources;
    assert.deepEqual(a, {
      typeUrl: CLUSTER,
      name: "a",
      versionInfo: "v-1",
      resource: v1.get("a"),
      lastUpdated: ackedAt,
      configStatus: ConfigStatus.ERROR,
      clientStatus: ClientResourceStatus.NACKED,
      error: {
        details: "cluster a: bad lb policy",
        versionInfo: "v-2",
        at: nackedAt,
        failedResource: v2.get("a"),
      },
    });
  });

  it("a NACK followed by an ACK of a newer response no longer stands", () => {
    const recovered = proxy({
      ...synced,
      lastSentGeneration: 3,
      lastAckedGeneration: 3,
      lastNack: { generation: 2, version: "v-2", message: "old", at: nackedAt },
    });
    for (const entry of clientStatusOf(recovered, false).resources) {
      assert.equal(entry.configStatus, ConfigStatus.SYNCED);
      assert.equal(entry.error, undefined);
    }
  });

  it("NOT_SENT: a type subscribed to and not answered yet, and a name the server has no resource for", () => {
    const fresh = clientStatusOf(proxy({}), false).resources;
    assert.deepEqual(
      fresh.map((e) => [e.name, e.configStatus, e.clientStatus, e.versionInfo, e.resource]),
      [
        ["a", ConfigStatus.NOT_SENT, ClientResourceStatus.REQUESTED, "", undefined],
        ["b", ConfigStatus.NOT_SENT, ClientResourceStatus.REQUESTED, "", undefined],
      ],
    );
    const missing = clientStatusOf(proxy({ ...synced, names: ["a", "gone"] }), false).resources;
    assert.deepEqual(
      missing.map((e) => [e.name, e.configStatus, e.clientStatus]),
      [
        ["a", ConfigStatus.SYNCED, ClientResourceStatus.ACKED],
        ["gone", ConfigStatus.NOT_SENT, ClientResourceStatus.DOES_NOT_EXIST],
      ],
    );
  });

  it("a wildcard type lists every resource it was sent; exclude_resource_contents drops the bodies", () => {
    const wildcard = proxy({ ...synced, names: [], wildcard: true });
    assert.deepEqual(
      clientStatusOf(wildcard, true).resources.map((e) => [e.name, e.resource, e.configStatus]),
      [
        ["a", undefined, ConfigStatus.SYNCED],
        ["b", undefined, ConfigStatus.SYNCED],
      ],
    );
  });

  it("reports each type on its own", () => {
    const two: ProxyState = {
      ...proxy(synced),
      types: [...proxy(synced).types, { typeUrl: ROUTE, awaitingAnswer: false, names: ["r"] }],
    };
    assert.deepEqual(
      clientStatusOf(two, false).resources.map((e) => [e.typeUrl, e.name, e.configStatus]),
      [
        [CLUSTER, "a", ConfigStatus.SYNCED],
        [CLUSTER, "b", ConfigStatus.SYNCED],
        [ROUTE, "r", ConfigStatus.NOT_SENT],
      ],
    );
  });
});
