import assert from "node:assert/strict";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IPod } from "kubernetes-models/v1";
import { endpointsByService } from "../../../src/compile/services.js";

const slice: IEndpointSlice = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "web-1", namespace: "shop", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  ports: [{ name: "http", port: 8080 }],
  endpoints: [
    { addresses: ["10.0.0.7"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "web-0" } },
    { addresses: ["10.0.0.9"], conditions: { ready: true } },
  ],
} as IEndpointSlice;

const pod: IPod = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web-0", namespace: "shop", labels: { app: "web", version: "v1" } },
  spec: { serviceAccountName: "web", containers: [{ name: "app" }] },
} as IPod;

describe("endpoints and their Pods", () => {
  it("leaves out an endpoint whose Pod the informer has not seen yet, as Istio does, until the Pod arrives", () => {
    // The EndpointSlice can arrive before its Pod. Published without it, the
    // endpoint would have no labels for subsets, no identity and, taken for
    // a Pod without a sidecar, plaintext from every client.
    const early = endpointsByService([slice], []).get("shop/web")!;
    assert.deepEqual(
      early.ready.map((e) => e.address),
      ["10.0.0.9"],
      "only the endpoint that names no Pod",
    );
    const later = endpointsByService([slice], [pod]).get("shop/web")!;
    assert.deepEqual(
      later.ready.map((e) => [e.address, e.workload, e.serviceAccount, e.labels.version]),
      [
        ["10.0.0.7", "shop/web-0", "web", "v1"],
        ["10.0.0.9", undefined, undefined, undefined],
      ],
    );
  });
});
