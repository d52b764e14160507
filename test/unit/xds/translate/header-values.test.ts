import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile } from "../../../../src/compile/compile.js";
import { envoyBinary } from "../../../../src/localnode/tools.js";
import { ROUTE_TYPE } from "../../../../src/xds/translate/resource.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";

/**
 * Header values in a TrafficPolicy are literal text. Envoy reads the values
 * of request_headers_to_add and response_headers_to_add as substitution
 * format strings, where `%` starts a command (`%HOSTNAME%`, `%START_TIME%`)
 * and `%%` is a literal `%`. A value such as "100%" made every sidecar NACK
 * the route configuration ("Incorrect configuration: 100%. Couldn't find
 * valid command at position 3"), and "%HOSTNAME%" was replaced by the
 * proxy's host name. The real Envoy loads the translated route here.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");

const VALUES = { "x-discount": "100%", "x-template": "%HOSTNAME%", "x-both": "50%% of %s" };

function routeConfiguration(): Record<string, unknown> {
  const state = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "header-mutations.yaml"));
  const policy = structuredClone(state.trafficPolicies[0]!);
  policy.spec.http![0]!.headers = {
    request: { set: VALUES, add: VALUES },
    response: { set: VALUES, add: VALUES },
  };
  const { shared } = translate(compile({ ...state, trafficPolicies: [policy] }).model);
  const route = shared.find((r) => r.typeUrl === ROUTE_TYPE && r.name.startsWith("reviews."));
  assert.ok(route, "no route configuration for reviews");
  return route.json as Record<string, unknown>;
}

describe("header values are literal", function () {
  it("escapes % as %% in every value it sets or adds", () => {
    const text = JSON.stringify(routeConfiguration());
    for (const [name, value] of Object.entries(VALUES)) {
      const escaped = JSON.stringify({ key: name, value: value.replaceAll("%", "%%") });
      assert.equal(text.split(escaped).length - 1, 4, `${name}: ${text}`);
    }
  });

  it("Envoy loads the route configuration", async function () {
    this.timeout(300_000); // the first run fetches Envoy
    const envoy = await envoyBinary();
    const dir = mkdtempSync(join(tmpdir(), "skiff-header-values-"));
    try {
      const bootstrap = {
        static_resources: {
          listeners: [
            {
              name: "routes",
              address: { socket_address: { address: "127.0.0.1", port_value: 15001 } },
              filter_chains: [
                {
                  filters: [
                    {
                      name: "envoy.filters.network.http_connection_manager",
                      typed_config: {
                        "@type":
                          "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        stat_prefix: "routes",
                        route_config: routeConfiguration(),
                        http_filters: [
                          {
                            name: "envoy.filters.http.router",
                            typed_config: {
                              "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                            },
                          },
                        ],
                      },
                    },
                  ],
                },
              ],
            },
          ],
        },
      };
      const path = join(dir, "envoy.json");
      writeFileSync(path, JSON.stringify(bootstrap));
      const result = spawnSync(
        envoy,
        [
          "-c",
          path,
          "--mode",
          "validate",
          "--concurrency",
          "1",
          "--use-dynamic-base-id",
          "--log-level",
          "error",
        ],
        { cwd: dir, env: { ...process.env, TMPDIR: dir }, encoding: "utf8", timeout: 60_000 },
      );
      if (result.error) throw result.error;
      assert.equal(
        result.status,
        0,
        `Envoy rejected the route configuration:\n${result.stdout}${result.stderr}`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
