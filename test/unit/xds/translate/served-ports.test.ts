import assert from "node:assert/strict";
import { join } from "node:path";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IService } from "kubernetes-models/v1";
import type { TrafficPolicy } from "../../../../src/api/v1alpha1/generated/trafficpolicy.js";
import { compile } from "../../../../src/compile/compile.js";
import type { ClusterState } from "../../../../src/compile/state.js";
import { servedPorts } from "../../../../src/xds/translate/inbound.js";
import { VIRTUAL_INBOUND } from "../../../../src/xds/translate/names.js";
import { translate } from "../../../../src/xds/translate/translate.js";
import { clusterStateFromFiles } from "../../../support/cluster-state.js";

/**
 * A workload's inbound side belongs to its own namespace. A Service of
 * another namespace may list the Pod in a hand-written EndpointSlice (the API
 * server admits any targetRef), and compile follows it, as Istio does. That
 * Service's TrafficPolicy rate limit reached the Pod's sidecar, and where
 * both namespaces' Services targeted one port, the namespace that sorts
 * first decided it: the namespace-isolation search (issue 14) found it.
 * Istio builds a Pod's inbound side from its own namespace's Services only.
 * Skiff still serves the other Service's ports (so that traffic meets the
 * workload's own PeerAuthentication and AuthorizationPolicies instead of
 * passing through), but its own namespace's Services decide each port, and
 * only they bring a rate limit.
 */
const DATA = join(import.meta.dirname, "..", "..", "..", "testdata", "translate");
const RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit";

/** Namespace alpha sorts before bookinfo, where base.yaml's reviews Pods run. */
function alphaServingReviewsV1(ports: { name: string; port: number }[]): ClusterState {
  const service: IService = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "reviews", namespace: "alpha" },
    spec: { clusterIP: "10.96.1.10", ports: ports.map((p) => ({ ...p, targetPort: p.port })) },
  };
  const slice: IEndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "reviews-manual",
      namespace: "alpha",
      labels: { "kubernetes.io/service-name": "reviews" },
    },
    addressType: "IPv4",
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: "TCP" })),
    endpoints: [
      {
        addresses: ["10.1.0.1"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: "reviews-v1", namespace: "bookinfo" },
      },
    ],
  };
  const policy: TrafficPolicy = {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: {
      name: "throttle",
      namespace: "alpha",
      generation: 1,
      creationTimestamp: "2026-01-01T00:00:00Z",
    },
    spec: {
      targetRef: { name: "reviews" },
      rateLimit: { local: { maxTokens: 1, tokensPerFill: 1, fillInterval: "1h" } },
    },
  };
  const base = clusterStateFromFiles(join(DATA, "base.yaml"), join(DATA, "in", "rate-limit-inbound.yaml"));
  return {
    ...base,
    namespaces: [
      ...base.namespaces,
      {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "alpha", labels: { "skiff.dev/injection": "enabled" } },
      },
    ],
    services: [...base.services, service],
    endpointSlices: [...base.endpointSlices, slice],
    trafficPolicies: [...base.trafficPolicies, policy],
  };
}

/** The token bucket on each inbound port of bookinfo's reviews-v1 sidecar (undefined: none), by port. */
function inboundRateLimits(state: ClusterState): Map<number, unknown> {
  const inbound = translate(compile(state).model).inbound.get("bookinfo/reviews-v1") ?? [];
  const listener = inbound.find((r) => r.name === VIRTUAL_INBOUND);
  assert.ok(listener, "reviews-v1 has no virtualInbound");
  const chains = (listener.json as unknown as { filter_chains: ChainJson[] }).filter_chains;
  const limits = new Map<number, unknown>();
  for (const chain of chains) {
    const manager = chain.filters[0]!.typed_config;
    const limit = manager.http_filters?.find((f) => f.name === RATE_LIMIT_FILTER);
    limits.set(chain.filter_chain_match.destination_port, limit?.typed_config.token_bucket);
  }
  return limits;
}

interface ChainJson {
  filter_chain_match: { destination_port: number };
  filters: {
    typed_config: { http_filters?: { name: string; typed_config: { token_bucket?: unknown } }[] };
  }[];
}

const BOOKINFO_BUCKET = { max_tokens: 100, tokens_per_fill: 50, fill_interval: "1s" };

describe("served ports: a workload's inbound side is its own namespace's", () => {
  it("keeps its own TrafficPolicy's rate limit where another namespace's Service targets the same port", () => {
    const limits = inboundRateLimits(alphaServingReviewsV1([{ name: "http", port: 9080 }]));
    assert.deepEqual([...limits.keys()], [9080]);
    assert.deepEqual(limits.get(9080), BOOKINFO_BUCKET);
  });

  it("takes no rate limit from another namespace's TrafficPolicy, with none of its own", () => {
    const state = alphaServingReviewsV1([{ name: "http", port: 9080 }]);
    const limits = inboundRateLimits({
      ...state,
      trafficPolicies: state.trafficPolicies.filter((p) => p.metadata.namespace === "alpha"),
    });
    assert.deepEqual([...limits], [[9080, undefined]]);
  });

  it("lets callers name every Service that reaches a port, its own namespace's first (the metadata exchange)", () => {
    const { model } = compile(alphaServingReviewsV1([{ name: "http", port: 9080 }]));
    const workload = model.workloads.find((w) => w.key === "bookinfo/reviews-v1");
    assert.ok(workload);
    const port = servedPorts(model, workload).find((p) => p.port === 9080);
    assert.deepEqual(port?.services, [
      "reviews.bookinfo.svc.cluster.local",
      "reviews.alpha.svc.cluster.local",
    ]);
  });

  it("still serves a port only another namespace's Service targets, with no rate limit", () => {
    const limits = inboundRateLimits(
      alphaServingReviewsV1([
        { name: "http", port: 9080 },
        { name: "http-admin", port: 7070 },
      ]),
    );
    assert.deepEqual(
      [...limits],
      [
        [7070, undefined],
        [9080, BOOKINFO_BUCKET],
      ],
    );
  });
});
