import assert from "node:assert/strict";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { replicaPeers } from "../../../../src/xds/status/replica-discovery.js";

const slice = (
  addressType: string,
  endpoints: { ip: string; pod?: string; ready?: boolean; terminating?: boolean }[],
): V1EndpointSlice => ({
  addressType,
  ports: [
    { name: "http-monitoring", port: 15014 },
    { name: "grpc-xds", port: 15010 },
  ],
  endpoints: endpoints.map((e) => ({
    addresses: [e.ip],
    conditions: { ready: e.ready ?? true, terminating: e.terminating ?? false },
    ...(e.pod ? { targetRef: { kind: "Pod", name: e.pod, namespace: "skiff-system" } } : {}),
  })),
});

describe("xDS replica discovery", () => {
  it("finds every other endpoint's gRPC port, ready or not, and leaves this Pod out", () => {
    const peers = replicaPeers(
      [
        slice("IPv4", [
          { ip: "10.0.0.2", pod: "skiff-xds-b" },
          { ip: "10.0.0.1", pod: "skiff-xds-a" },
          { ip: "10.0.0.3", pod: "skiff-xds-c", ready: false, terminating: true },
        ]),
        slice("IPv6", [{ ip: "fd00::4", pod: "skiff-xds-d" }]),
      ],
      "grpc-xds",
      "skiff-xds-a",
    );
    assert.deepEqual(peers, [
      { name: "skiff-xds-b", address: "10.0.0.2:15010" },
      { name: "skiff-xds-c", address: "10.0.0.3:15010" },
      { name: "skiff-xds-d", address: "[fd00::4]:15010" },
    ]);
  });

  it("names an endpoint without a Pod by its address, and skips slices without the port", () => {
    const withoutPort = { ...slice("IPv4", [{ ip: "10.0.0.9", pod: "x" }]), ports: [] };
    assert.deepEqual(replicaPeers([slice("IPv4", [{ ip: "10.0.0.5" }]), withoutPort], "grpc-xds", "a"), [
      { name: "10.0.0.5", address: "10.0.0.5:15010" },
    ]);
  });
});
