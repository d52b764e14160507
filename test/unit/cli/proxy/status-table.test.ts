import assert from "node:assert/strict";
import type { ClientConfig } from "../../../../src/cli/proxy/client-config-json.js";
import { configDiff } from "../../../../src/cli/proxy/config-diff.js";
import { proxyRow, statusTable, unhealthy } from "../../../../src/cli/proxy/status-table.js";

const CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LDS = "type.googleapis.com/envoy.config.listener.v3.Listener";
const now = new Date("2026-12-04T10:01:00Z");

const config: ClientConfig = {
  node: {
    id: "sidecar~10.0.0.9~reviews-v1.shop~shop.svc.cluster.local",
    metadata: {
      SKIFF_PROXY_KIND: "sidecar",
      SKIFF_POD: "shop/reviews-v1",
      SKIFF_AWAITING_ANSWER: {
        [CDS]: { sentAt: "2026-12-04T10:00:00Z", sentVersion: "c2", ackedVersion: "c1" },
      },
    },
  },
  generic_xds_configs: [
    {
      type_url: CDS,
      name: "a",
      version_info: "c2",
      config_status: "STALE",
      client_status: "REQUESTED",
      last_updated: "2026-12-04T09:59:00Z",
      xds_config: { "@type": CDS, name: "a" },
    },
    {
      type_url: LDS,
      name: "l",
      version_info: "l1",
      config_status: "ERROR",
      client_status: "NACKED",
      last_updated: "2026-12-04T09:58:00Z",
      xds_config: { "@type": LDS, name: "l", stat_prefix: "old" },
      error_state: {
        details: "bad listener",
        version_info: "l2",
        failed_configuration: { "@type": LDS, name: "l", stat_prefix: "new" },
      },
    },
  ],
};

describe("proxy-status: a proxy's row, its problems and its diff", () => {
  const row = proxyRow({ replica: "skiff-xds-0.skiff-system", config });

  it("names the Pod and each type's state, the config version and the last ACK", () => {
    assert.equal(row.name, "reviews-v1.shop");
    assert.deepEqual(row.states, {
      CDS: "STALE",
      LDS: "NACKED",
      EDS: "NOT SENT",
      RDS: "NOT SENT",
      SDS: "NOT SENT",
    });
    assert.equal(row.version, "c2");
    assert.deepEqual(row.lastAck, new Date("2026-12-04T09:59:00Z"));
    const [header, line] = statusTable([row], now).split("\n");
    assert.match(header!, /^NAME\s+KIND\s+CDS/);
    assert.deepEqual(line!.split(/\s{3,}/), [
      ...["reviews-v1.shop", "sidecar", "STALE", "NACKED", "NOT SENT", "NOT SENT", "NOT SENT", "c2", "2m"],
      "skiff-xds-0.skiff-system",
    ]);
  });

  it("fails on a NACK, and on STALE only past the threshold", () => {
    assert.deepEqual(unhealthy(row, 120_000, now), ["reviews-v1.shop NACKED LDS version l2: bad listener"]);
    assert.deepEqual(unhealthy(row, 30_000, now), [
      "reviews-v1.shop NACKED LDS version l2: bad listener",
      "reviews-v1.shop STALE CDS: no answer for 1m",
    ]);
  });

  it("diffs a NACKED type's running config against the refused one, and names a STALE type's versions", () => {
    const diff = configDiff(config);
    assert.match(diff, /^CDS: sent version c2 is not answered yet; the proxy last ACKed c1/m);
    assert.match(
      diff,
      /^--- LDS ACKed by the proxy \(version l1\)\n\+\+\+ LDS the control plane wants \(version l2\)/m,
    );
    assert.match(diff, /^-\s+stat_prefix: old\n\+\s+stat_prefix: new$/m);
  });
});
