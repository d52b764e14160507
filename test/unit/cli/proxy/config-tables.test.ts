import assert from "node:assert/strict";
import type { ClientConfig } from "../../../../src/cli/proxy/client-config-json.js";
import { configDumpOf, resourcesOf } from "../../../../src/cli/proxy/config-dump.js";
import { configTable } from "../../../../src/cli/proxy/config-tables.js";
import { issueLeaf, createSelfSignedCa } from "../../../../src/pki/issue.js";

const SDS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
const CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

describe("proxy-config: tables and config_dump entries", () => {
  it("never prints a secret's private key, and reads the certificate's SPIFFE id, serial and validity", async () => {
    const ca = await createSelfSignedCa(
      "CN=test root",
      new Date("2026-01-01T00:00:00Z"),
      new Date("2027-01-01T00:00:00Z"),
    );
    const leaf = await issueLeaf(ca, {
      subject: "",
      usage: ["serverAuth", "clientAuth"],
      sans: [{ type: "url", value: "spiffe://cluster.local/ns/shop/sa/reviews" }],
      criticalSans: true,
      notBefore: new Date("2026-12-01T00:00:00Z"),
      notAfter: new Date("2026-12-02T00:00:00Z"),
    });
    const config: ClientConfig = {
      generic_xds_configs: [
        {
          type_url: SDS,
          name: "default",
          version_info: "s1",
          xds_config: {
            "@type": SDS,
            name: "default",
            tls_certificate: {
              certificate_chain: { inline_bytes: Buffer.from(leaf.certPem).toString("base64") },
              private_key: { inline_bytes: Buffer.from(leaf.keyPem).toString("base64") },
            },
          },
        },
        {
          type_url: SDS,
          name: "ROOTCA",
          version_info: "s1",
          xds_config: {
            "@type": SDS,
            name: "ROOTCA",
            validation_context: { trusted_ca: { inline_string: ca.pair.certPem } },
          },
        },
      ],
    };
    const secrets = resourcesOf(config, "secrets");
    const printed = JSON.stringify(configDumpOf("secrets", secrets)) + configTable("secrets", secrets);
    assert.ok(!printed.includes(Buffer.from(leaf.keyPem).toString("base64")), "no key bytes");
    assert.ok(!printed.includes("PRIVATE KEY"));
    assert.match(
      JSON.stringify(secrets.find((s) => s.name === "default")!.body),
      /"private_key":\{"inline_string":"\[redacted\]"\}/,
    );
    const rows = configTable("secrets", secrets)
      .split("\n")
      .map((line) => line.split(/\s{3,}/));
    assert.deepEqual(rows[0], ["NAME", "KIND", "SPIFFE ID", "SERIAL", "NOT BEFORE", "NOT AFTER", "ISSUER"]);
    assert.deepEqual(rows[2]!.slice(0, 3), ["ROOTCA", "trust bundle", "-"]);
    assert.deepEqual(rows[1]!.slice(0, 3), [
      "default",
      "certificate",
      "spiffe://cluster.local/ns/shop/sa/reviews",
    ]);
    assert.deepEqual(rows[1]!.slice(4, 7), [
      "2026-12-01T00:00:00.000Z",
      "2026-12-02T00:00:00.000Z",
      "CN=test root",
    ]);
  });

  it("clusters and endpoints: the protos' zero values where JSON leaves them out, one row per endpoint", () => {
    const config: ClientConfig = {
      generic_xds_configs: [
        {
          type_url: CDS,
          name: "out|9080||reviews",
          xds_config: { "@type": CDS, name: "out|9080||reviews", type: "EDS", connect_timeout: "5s" },
        },
        {
          type_url: EDS,
          name: "out|9080||reviews",
          xds_config: {
            "@type": EDS,
            cluster_name: "out|9080||reviews",
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: { address: { socket_address: { address: "10.0.0.9", port_value: 9080 } } },
                    health_status: "HEALTHY",
                  },
                  {
                    endpoint: { address: { socket_address: { address: "fd00::9", port_value: 9080 } } },
                    load_balancing_weight: 3,
                  },
                ],
              },
            ],
          },
        },
      ],
    };
    const clusters = configTable("clusters", resourcesOf(config, "clusters")).split("\n");
    assert.deepEqual(clusters[1]!.split(/\s{3,}/), ["out|9080||reviews", "EDS", "ROUND_ROBIN", "5s", "no"]);
    const endpoints = configTable("endpoints", resourcesOf(config, "endpoints")).split("\n").slice(1);
    assert.deepEqual(
      endpoints.map((line) => line.split(/\s{3,}/)),
      [
        ["out|9080||reviews", "10.0.0.9:9080", "HEALTHY", "1"],
        ["out|9080||reviews", "[fd00::9]:9080", "UNKNOWN", "3"],
      ],
    );
  });
});
