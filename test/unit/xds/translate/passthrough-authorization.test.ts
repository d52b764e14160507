import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { compile } from "../../../../src/compile/compile.js";
import { rbacFilters } from "../../../../src/xds/translate/authorization.js";
import { INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND } from "../../../../src/xds/translate/names.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";

/**
 * AuthorizationPolicies hold on ports no Service targets (issue 16, item 5).
 * Such a port is still reachable at the Pod's IP, through virtualInbound's
 * passthrough chains; they forwarded every connection with no RBAC at all,
 * so a policy that closed a served TCP port left the others open (found by
 * test/e2e/authorization.test.ts on real sidecars). Istio's passthrough chains
 * carry the workload's TCP authorization filters; so do Skiff's now, under
 * every mTLS mode.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");

interface Chain {
  name?: string;
  filters: { name: string; typed_config?: { cluster?: string; check_drain_close?: boolean } }[];
}

describe("AuthorizationPolicy on the ports no Service targets", () => {
  for (const name of ["authorization-inbound", "mtls-strict-namespace"])
    it(`${name}: every chain that forwards to the original destination starts with the workload's network RBAC`, () => {
      const state = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", `${name}.yaml`));
      const model = compile(state).model;
      const inbound = translate(model).inbound;
      const governed = model.workloads.filter((w) => w.authorization.length > 0);
      assert.ok(governed.length > 0, "the case has workloads under AuthorizationPolicies");
      for (const workload of governed) {
        const listener = inbound.get(workload.key)?.find((r) => r.name === VIRTUAL_INBOUND)?.json as
          { filter_chains: Chain[]; default_filter_chain: Chain } | undefined;
        assert.ok(listener, `${workload.key} has a virtualInbound`);
        const forwarding = [...listener.filter_chains, listener.default_filter_chain].filter((c) =>
          c.filters.some((f) => f.typed_config?.cluster === INBOUND_PASSTHROUGH_CLUSTER),
        );
        assert.ok(forwarding.length > 0, `${workload.key} has a passthrough chain`);
        const expected = rbacFilters(workload.authorization, {
          trustDomain: model.trustDomain,
          protocol: "TCP",
        });
        for (const chain of forwarding)
          assert.deepEqual(chain.filters.slice(0, -1), expected, `${workload.key}: ${chain.name}`);
      }
    });

  it("every inbound TCP proxy closes its connection when a change drains its chain", () => {
    // Network RBAC decides on a connection's first bytes only; without this a
    // connection opened before a DENY lived on under the old decision. (No
    // translate case serves a TCP port; test/e2e/authorization.test.ts holds one open.)
    const proxies = readdirSync(join(DATA, "in"))
      .filter((f) => f.endsWith(".yaml"))
      .flatMap((f) => {
        const state = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", f));
        return [...translate(compile(state).model).inbound.values()].flat();
      })
      .filter((r) => r.name === VIRTUAL_INBOUND)
      .flatMap((r) => {
        const listener = r.json as unknown as { filter_chains: Chain[]; default_filter_chain: Chain };
        return [...listener.filter_chains, listener.default_filter_chain];
      })
      .flatMap((c) => c.filters.filter((f) => f.name === "envoy.filters.network.tcp_proxy"));
    assert.ok(proxies.length > 0);
    assert.deepEqual(
      proxies.filter((p) => p.typed_config?.check_drain_close !== true).map((p) => p.typed_config?.cluster),
      [],
    );
  });
});
