import assert from "node:assert/strict";
import { connectedProxyCount } from "../../../../src/xds/status/mesh-proxies.js";
import type { ProxyState } from "../../../../src/xds/server/proxy-state.js";

const stream = (streamId: number, id: string): ProxyState => ({
  streamId,
  protocol: "sotw",
  node: { id, cluster: "", metadata: {} },
  peer: "",
  connectedAt: new Date("2026-11-25T12:00:00Z"),
  types: [],
});

describe("the Mesh's count of connected proxies", () => {
  it("counts each node once, and no agent's own stream", () => {
    const web = "sidecar~10.1.0.7~web-1.shop~shop.svc.cluster.local";
    assert.equal(connectedProxyCount([]), 0);
    assert.equal(
      connectedProxyCount([
        stream(1, web),
        stream(2, web), // a reconnect, before the old stream has ended
        stream(3, "skiff-agent~10.1.0.7~web-1.shop~shop.svc.cluster.local"),
        stream(4, "grpc-client-7"), // a proxyless client may use any id
      ]),
      2,
    );
  });
});
