import assert from "node:assert/strict";
import { proxyConfigOverrides } from "../../../src/inject/proxy-config.js";
import { PROXY_CONFIG_ANNOTATION } from "../../../src/mesh/annotations.js";

const of = (value: string) => proxyConfigOverrides({ [PROXY_CONFIG_ANNOTATION]: value });

describe("proxy.skiff.dev/config (Istio's proxy.istio.io/config)", () => {
  it("gives the sidecar proxyMetadata as environment variables, by name, from YAML or JSON", () => {
    const expected = {
      env: [
        { name: "OTHER", value: "x" },
        { name: "SECRET_TTL", value: "90s" },
      ],
      warnings: [],
    };
    assert.deepEqual(of("proxyMetadata:\n  SECRET_TTL: 90s\n  OTHER: x\n"), expected);
    assert.deepEqual(of('{"proxyMetadata": {"SECRET_TTL": "90s", "OTHER": "x"}}'), expected);
  });

  it("changes nothing without the annotation, or with an empty one", () => {
    assert.deepEqual(proxyConfigOverrides(undefined), { env: [], warnings: [] });
    assert.deepEqual(proxyConfigOverrides({}), { env: [], warnings: [] });
    assert.deepEqual(of(""), { env: [], warnings: [] });
  });

  it("warns of the ProxyConfig fields it does not read", () => {
    assert.deepEqual(of("concurrency: 4\nholdApplicationUntilProxyStarts: true\nproxyMetadata: { A: b }"), {
      env: [{ name: "A", value: "b" }],
      warnings: [
        `annotation ${PROXY_CONFIG_ANNOTATION}: only proxyMetadata is read; ignored: concurrency, holdApplicationUntilProxyStarts`,
      ],
    });
  });

  it("refuses, naming the annotation, what is not a ProxyConfig with a map of names to strings", () => {
    const refusals: Record<string, string> = {
      "proxyMetadata: [": "not YAML",
      "- a": "must be a ProxyConfig mapping",
      "proxyMetadata: [A]": "proxyMetadata must map variable names to strings",
      "proxyMetadata: { A: 1 }": "proxyMetadata.A must be a string (quote it)",
      "proxyMetadata: { 'A-B': x }": "'A-B' is not an environment variable name",
    };
    for (const [value, why] of Object.entries(refusals))
      assert.throws(
        () => of(value),
        (error: Error) =>
          error.message.startsWith(`annotation ${PROXY_CONFIG_ANNOTATION}: `) && error.message.includes(why),
        value,
      );
  });
});
