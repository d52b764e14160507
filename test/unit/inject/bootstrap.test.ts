import assert from "node:assert/strict";
import { join } from "node:path";
import { renderBootstrap, sidecarArgs, type BootstrapInputs } from "../../../src/inject/bootstrap.js";
import { proxyIdentity } from "../../../src/xds/node.js";
import { envoyViolations } from "../../support/envoy-validator.js";
import { GoldenFolder } from "../../support/golden.js";

/**
 * Golden tests for the sidecar's Envoy bootstrap: each case must render
 * exactly test/testdata/bootstrap/<case>.json, and every golden file must pass
 * Envoy's proto validation (go-control-plane ValidateAll, typed_config
 * unpacked). UPDATE_GOLDEN=1 rewrites them; review reads the diff.
 */
const DATA = join(import.meta.dirname, "..", "..", "testdata", "bootstrap");
const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const golden = new GoldenFolder(DATA);

const base: BootstrapInputs = { xds: { host: "skiff-xds.skiff-system.svc", port: 15010 }, adminPort: 15000 };

const CASES: Record<string, BootstrapInputs> = {
  default: base,
  tracing: { ...base, otlpEndpoint: "otel-collector.observability.svc:4317" },
  "custom-memory": {
    ...base,
    maxHeapSizeBytes: 256 * 2 ** 20,
    maxDownstreamConnections: 20_000,
  },
};

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("Envoy bootstrap golden files", () => {
  for (const [name, inputs] of Object.entries(CASES)) {
    it(`${name}: matches its golden file and passes Envoy's validation`, function () {
      this.timeout(300_000); // the first run builds the validator
      const json = renderBootstrap(inputs);
      golden.check(`${name}.json`, json);
      assert.deepEqual(envoyViolations(BOOTSTRAP, json), []);
    });
  }

  it("has no golden file that no case renders", () =>
    golden.checkNothingElse(Object.keys(CASES).map((name) => `${name}.json`)));

  it("is deterministic", () => {
    for (const inputs of Object.values(CASES))
      assert.equal(renderBootstrap({ ...inputs }), renderBootstrap(inputs));
  });

  it("gets everything dynamic over delta ADS, with the node only in the first message and not in the file", () => {
    const b = JSON.parse(renderBootstrap(base)) as Json;
    assert.equal(b.node, undefined);
    assert.deepEqual(b.dynamic_resources.ads_config, {
      api_type: "DELTA_GRPC",
      transport_api_version: "V3",
      grpc_services: [
        {
          envoy_grpc: {
            cluster_name: "skiff-xds",
            // Retried within 5 s, not Envoy's 30 s, after the xDS server comes back.
            retry_policy: { retry_back_off: { base_interval: "0.5s", max_interval: "5s" } },
          },
        },
      ],
      set_node_on_first_message_only: true,
    });
    assert.equal(b.static_resources.clusters[0].name, "skiff-xds");
    assert.deepEqual(b.admin.address.socket_address, { address: "127.0.0.1", port_value: 15000 });
    assert.equal(JSON.stringify(b).includes("secrets"), false, "SDS comes over ADS; no static secrets");
  });

  it("serves Prometheus stats on 15090 and readiness on 15021, both from the admin endpoint only", () => {
    const b = JSON.parse(renderBootstrap(base)) as Json;
    const listener = (port: number) => {
      const found = (b.static_resources.listeners as Json[]).find(
        (l) => l.address.socket_address.port_value === port,
      )!;
      assert.equal(found.address.socket_address.address, "0.0.0.0");
      return found.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes as Json[];
    };
    assert.deepEqual(listener(15090), [
      { match: { prefix: "/stats/prometheus" }, route: { cluster: "skiff-admin" } },
    ]);
    assert.deepEqual(listener(15021), [
      { match: { path: "/healthz/ready" }, route: { cluster: "skiff-admin", prefix_rewrite: "/ready" } },
    ]);
    const admin = (b.static_resources.clusters as Json[]).find((c) => c.name === "skiff-admin")!;
    assert.deepEqual(admin.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, {
      address: "127.0.0.1",
      port_value: 15000,
    });
  });

  it("has the OTLP cluster, over HTTP/2, only when the Mesh names a collector", () => {
    const names = (inputs: BootstrapInputs) =>
      (JSON.parse(renderBootstrap(inputs)).static_resources.clusters as Json[]).map((c) => c.name);
    assert.deepEqual(names(base), ["skiff-xds", "skiff-admin"]);
    assert.deepEqual(names({ ...base, otlpEndpoint: "" }), ["skiff-xds", "skiff-admin"]);
    const otlp = (JSON.parse(renderBootstrap(CASES.tracing!)).static_resources.clusters as Json[]).find(
      (c) => c.name === "skiff-otlp",
    )!;
    assert.equal(otlp.type, "STRICT_DNS");
    assert.ok(
      otlp.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        .explicit_http_config.http2_protocol_options,
    );
    assert.deepEqual(otlp.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address, {
      address: "otel-collector.observability.svc",
      port_value: 4317,
    });
    for (const bad of ["collector", "collector:", "collector:0", "collector:70000", "[::1]:4317", "a b:1"])
      assert.throws(
        () => renderBootstrap({ ...base, otlpEndpoint: bad }),
        /otlpEndpoint: .* is not host:port/,
        bad,
      );
  });

  it("shrinks the heap at 95% and stops accepting requests at 98% of the memory limit, and caps connections", () => {
    const om = JSON.parse(renderBootstrap(CASES["custom-memory"]!)).overload_manager as Json;
    const monitors = Object.fromEntries(
      (om.resource_monitors as Json[]).map((m) => [m.name, m.typed_config]),
    );
    assert.equal(monitors["envoy.resource_monitors.fixed_heap"].max_heap_size_bytes, String(256 * 2 ** 20));
    assert.equal(
      monitors["envoy.resource_monitors.global_downstream_max_connections"].max_active_downstream_connections,
      "20000",
    );
    assert.deepEqual(
      (om.actions as Json[]).map((a) => [a.name, a.triggers[0].name, a.triggers[0].threshold.value]),
      [
        ["envoy.overload_actions.shrink_heap", "envoy.resource_monitors.fixed_heap", 0.95],
        ["envoy.overload_actions.stop_accepting_requests", "envoy.resource_monitors.fixed_heap", 0.98],
      ],
    );
    const defaults = JSON.parse(renderBootstrap(base)).overload_manager as Json;
    assert.equal(defaults.resource_monitors[0].typed_config.max_heap_size_bytes, String(2 ** 30));
    assert.doesNotMatch(JSON.stringify(defaults), /runtime/);
  });

  it("rejects out-of-range ports and limits", () => {
    assert.throws(
      () => renderBootstrap({ ...base, prometheusPort: 0 }),
      /prometheusPort: 0 is not a port number/,
    );
    assert.throws(() => renderBootstrap({ ...base, maxHeapSizeBytes: 0 }), /maxHeapSizeBytes: 0/);
    assert.throws(
      () => renderBootstrap({ ...base, maxDownstreamConnections: 1.5 }),
      /maxDownstreamConnections/,
    );
  });
});

describe("the sidecar's Envoy arguments", () => {
  it("name the node as the xDS server parses it, from the downward-API environment", () => {
    const args = sidecarArgs();
    assert.deepEqual(args, [
      "-c",
      "/etc/skiff/bootstrap/envoy.json",
      "--service-node",
      "sidecar~$(POD_IP)~$(POD_NAME).$(POD_NAMESPACE)~$(POD_NAMESPACE).svc.cluster.local",
      "--service-cluster",
      "$(POD_NAMESPACE)",
      "--log-level",
      "warning",
      "--concurrency",
      "2",
      "--drain-strategy",
      "immediate",
      "--drain-time-s",
      "45",
    ]);
    // What the kubelet makes of it, read back by the xDS server.
    const expanded = args[args.indexOf("--service-node") + 1]!.replaceAll("$(POD_IP)", "10.1.2.3")
      .replaceAll("$(POD_NAME)", "reviews-v1-abc.12")
      .replaceAll("$(POD_NAMESPACE)", "bookinfo");
    assert.deepEqual(proxyIdentity({ id: expanded, cluster: "bookinfo", metadata: {} }), {
      kind: "sidecar",
      workload: "bookinfo/reviews-v1-abc.12",
      certificates: false,
    });
  });

  it("take the Mesh's log level and concurrency; 0 means one worker per CPU", () => {
    const args = sidecarArgs({
      logLevel: "debug",
      concurrency: 4,
      clusterDomain: "example.org",
      serviceCluster: "reviews.bookinfo",
    });
    assert.deepEqual(args.slice(3), [
      "sidecar~$(POD_IP)~$(POD_NAME).$(POD_NAMESPACE)~$(POD_NAMESPACE).svc.example.org",
      "--service-cluster",
      "reviews.bookinfo",
      "--log-level",
      "debug",
      "--concurrency",
      "4",
      "--drain-strategy",
      "immediate",
      "--drain-time-s",
      "45",
    ]);
    const perCpu = sidecarArgs({ concurrency: 0 });
    assert.equal(perCpu.includes("--concurrency"), false);
    assert.equal(perCpu[perCpu.indexOf("--log-level") + 2], "--cpuset-threads");
    assert.throws(() => sidecarArgs({ concurrency: -1 }), /concurrency: -1/);
  });
});
