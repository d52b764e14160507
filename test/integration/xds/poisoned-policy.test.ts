import assert from "node:assert/strict";
import { join } from "node:path";
import type { V1CustomResourceDefinition } from "@kubernetes/client-node";
import { pino } from "pino";
import { DURATION_PATTERN } from "../../../src/api/schema.js";
import { installCrds, readCrds } from "../../../src/controlplane/crds.js";
import { decodeMessage, messageToJson } from "../../../src/xds/protos/registry.js";
import { ENDPOINT_TYPE, messageName, ROUTE_TYPE } from "../../../src/xds/translate/resource.js";
import { startXdsServer, type RunningXdsServer } from "../../../src/xds/xds-server.js";
import { DeltaClient, type DeltaResponse } from "../../support/ads-client.js";
import { controlPlane } from "../controlplane.fixture.js";
import { eventually, kubectl, kubectlOk } from "../kubectl.js";

/**
 * One TrafficPolicy that cannot be turned into Envoy configuration must not
 * freeze xDS for the whole mesh (issue 14, finding 2).
 *
 * Today's schema refuses the poisoned value (a timeout past protobuf's
 * Duration range), so the object gets into the API server the way such
 * objects really do: it was stored under an older CRD that lacked the bound,
 * and the CRD was then upgraded. The API server keeps serving it.
 */
const NS = "xds-isolation";
const HOST = (name: string) => `${name}.${NS}.svc.cluster.local`;
const ROUTE = (name: string) => `${HOST(name)}:9080`;
const REVIEWS_ENDPOINTS = `outbound|9080||${HOST("reviews")}`;

const POISONED = (name: string) => `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${name}, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: ratings }
  http:
    - route: [{}]
      timeout: 100000000h
`;

function service(name: string, addresses: string[]): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec:
  ports: [{ name: grpc, port: 9080, appProtocol: grpc }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: ${NS}
  labels: { kubernetes.io/service-name: ${name} }
addressType: IPv4
ports: [{ name: grpc, port: 9080, protocol: TCP }]
endpoints:
${addresses.map((a) => `  - { addresses: [${a}], conditions: { ready: true } }`).join("\n")}
`;
}

/**
 * The TrafficPolicy CRD as Skiff shipped it before durations were bounded:
 * any number of digits, and no CEL rule on the value.
 */
function withoutDurationBounds(crd: V1CustomResourceDefinition): V1CustomResourceDefinition {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== "object") return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === "x-kubernetes-validations") {
        const kept = (value as { rule: string }[]).filter((r) => !r.rule.includes("duration(self)"));
        if (kept.length > 0) out[key] = kept;
      } else if (key === "pattern" && value === DURATION_PATTERN) {
        out[key] = "^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us|ns))+$";
      } else {
        out[key] = strip(value);
      }
    }
    return out;
  };
  return strip(crd) as V1CustomResourceDefinition;
}

async function condition(name: string, type: string) {
  const tp = JSON.parse(await kubectlOk(["get", "tp", name, "-n", NS, "-o", "json"]));
  assert.equal(tp.status?.observedGeneration, tp.metadata.generation, JSON.stringify(tp.status));
  return tp.status.conditions.find((c: { type: string }) => c.type === type) as
    { status: string; reason: string; message: string } | undefined;
}

/** A proxyless gRPC client's delta stream, keeping the latest of each resource it was sent. */
class Proxy {
  readonly client: DeltaClient;
  readonly resources = new Map<string, Record<string, unknown>>();

  constructor(address: string) {
    this.client = new DeltaClient(address, { id: "grpc~isolation", metadata: { GENERATOR: "grpc" } });
  }

  /** ACKs responses until `check` passes on what the proxy holds. */
  async until(check: () => void, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        check();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      let response: DeltaResponse;
      try {
        response = await this.client.next(Math.max(1, deadline - Date.now()));
      } catch {
        continue; // The deadline passed: check once more, then fail with its error.
      }
      for (const r of response.resources) {
        const type = messageName(r.typeUrl);
        this.resources.set(
          r.name,
          messageToJson(type, decodeMessage(type, r.value)) as Record<string, unknown>,
        );
      }
      for (const name of response.removedResources) this.resources.delete(name);
      this.client.ack(response);
    }
  }

  /** The route's max_stream_duration, which is where a proxyless client reads a rule's timeout. */
  timeout(route: string): string | undefined {
    const config = this.resources.get(route) as
      | { virtualHosts?: { routes?: { route?: { maxStreamDuration?: { maxStreamDuration?: string } } }[] }[] }
      | undefined;
    assert.ok(config, `the proxy has no route configuration ${route}`);
    return config.virtualHosts?.[0]?.routes?.[0]?.route?.maxStreamDuration?.maxStreamDuration;
  }

  endpoints(cluster: string): string[] {
    const assignment = this.resources.get(cluster) as
      | {
          endpoints?: {
            lbEndpoints?: { endpoint?: { address?: { socketAddress?: { address?: string } } } }[];
          }[];
        }
      | undefined;
    assert.ok(assignment, `the proxy has no endpoints for ${cluster}`);
    return (assignment.endpoints ?? [])
      .flatMap((l) => l.lbEndpoints ?? [])
      .map((e) => e.endpoint?.address?.socketAddress?.address ?? "")
      .sort();
  }
}

describe("a TrafficPolicy that cannot be turned into proxy configuration", function () {
  this.timeout(120_000);
  let xds: RunningXdsServer | undefined;
  let proxy: Proxy | undefined;
  let current: V1CustomResourceDefinition;

  before(async () => {
    const kubeConfig = controlPlane().kubeConfig();
    const crds = await readCrds(join(import.meta.dirname, "..", "..", "..", "crds"));
    current = crds.find((c) => c.metadata?.name === "trafficpolicies.skiff.dev")!;
    await kubectlOk(["create", "namespace", NS]);
    await kubectlOk(
      ["apply", "-f", "-"],
      service("reviews", ["10.77.0.1"]) + "---\n" + service("ratings", ["10.77.1.1"]),
    );

    // Stored under the old CRD, which lacked the bounds...
    await installCrds(kubeConfig, [withoutDurationBounds(current)]);
    await eventually(() => kubectlOk(["apply", "-f", "-"], POISONED("ratings")));
    // ...which was then upgraded: the API server refuses such a value now, and still serves the stored object.
    await installCrds(kubeConfig, [current]);
    await eventually(async () => {
      const probe = await kubectl(["apply", "--dry-run=server", "-f", "-"], POISONED("probe"));
      assert.notEqual(probe.code, 0, "the upgraded CRD refuses the value");
      assert.match(probe.stderr, /spec\.http\[0\]\.timeout/);
    });

    xds = await startXdsServer(kubeConfig, {
      security: { mode: "insecure" },
      address: "127.0.0.1:0",
      caNamespace: NS,
      logger: pino({ level: "warn" }),
    });
    proxy = new Proxy(`127.0.0.1:${xds.port}`);
  });

  after(async () => {
    proxy?.client.close();
    await xds?.stop();
    await installCrds(controlPlane().kubeConfig(), [current]);
    await kubectlOk(["delete", "namespace", NS, "--wait=false"]);
  });

  it("is left out and reported Accepted=False/Invalid, while a good policy and an endpoint change reach a proxy", async () => {
    const p = proxy!;
    await kubectlOk(
      ["apply", "-f", "-"],
      `apiVersion: skiff.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews, namespace: ${NS} }
spec:
  targetRef: { kind: Service, name: reviews }
  http:
    - route: [{}]
      timeout: 3s
`,
    );
    p.client.request({ typeUrl: ROUTE_TYPE, subscribe: [ROUTE("reviews"), ROUTE("ratings")] });
    p.client.request({ typeUrl: ENDPOINT_TYPE, subscribe: [REVIEWS_ENDPOINTS] });
    await p.until(() => {
      assert.equal(p.timeout(ROUTE("reviews")), "3s", "the good policy reached the proxy");
      assert.equal(p.timeout(ROUTE("ratings")), undefined, "ratings falls back to no policy");
      assert.deepEqual(p.endpoints(REVIEWS_ENDPOINTS), ["10.77.0.1"]);
    });

    await kubectlOk(["apply", "-f", "-"], service("reviews", ["10.77.0.1", "10.77.0.2"]));
    await p.until(() =>
      assert.deepEqual(p.endpoints(REVIEWS_ENDPOINTS), ["10.77.0.1", "10.77.0.2"], "the endpoint change"),
    );

    await eventually(async () => {
      const accepted = await condition("ratings", "Accepted");
      assert.deepEqual([accepted?.status, accepted?.reason], ["False", "Invalid"], JSON.stringify(accepted));
      assert.match(accepted!.message, /RouteConfiguration ratings\.xds-isolation\.svc\.cluster\.local:9080/);
      assert.match(accepted!.message, /google\.protobuf\.Duration/);
      const programmed = await condition("ratings", "Programmed");
      assert.deepEqual([programmed?.status, programmed?.reason], ["False", "NotAccepted"]);
      assert.equal((await condition("reviews", "Accepted"))?.status, "True");
    });
  });

  it("is applied once fixed, without being deleted", async () => {
    const p = proxy!;
    await kubectlOk(["apply", "-f", "-"], POISONED("ratings").replace("100000000h", "2s"));
    await p.until(() => assert.equal(p.timeout(ROUTE("ratings")), "2s"));
    await eventually(async () => assert.equal((await condition("ratings", "Accepted"))?.status, "True"));
  });
});
