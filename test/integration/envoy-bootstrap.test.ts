import assert from "node:assert/strict";
import { renderBootstrap } from "../../src/inject/bootstrap.js";
import { envoyViolations } from "../support/envoy-validator.js";

const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";

describe("the Envoy bootstrap, checked by go-control-plane's validator", () => {
  it("is a valid Envoy bootstrap", () => {
    const json = renderBootstrap({
      xds: { host: "skiff-xds.skiff-system.svc", port: 15010 },
      adminPort: 15000,
    });
    assert.deepEqual(envoyViolations(BOOTSTRAP, json), []);
  });

  it("the validator catches violations, including inside typed_config", () => {
    const bootstrap = JSON.parse(renderBootstrap({ xds: { host: "x", port: 15010 }, adminPort: 15000 }));
    bootstrap.admin.address.socket_address.port_value = 70000;
    bootstrap.static_resources.clusters[0].typed_extension_protocol_options[
      "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ].common_http_protocol_options = { max_headers_count: 0 };
    const violations = envoyViolations(BOOTSTRAP, JSON.stringify(bootstrap));
    assert.equal(violations.length, 2, violations.join("\n"));
    assert.match(violations[0]!, /PortValue: value must be less than or equal to 65535/);
    assert.match(violations[1]!, /<envoy.extensions.upstreams.http.v3.HttpProtocolOptions>.*MaxHeadersCount/);
  });

  it("rejects unknown fields", () => {
    assert.match(envoyViolations(BOOTSTRAP, '{"admin": {"adress": {}}}')[0]!, /unknown field "adress"/);
  });
});
