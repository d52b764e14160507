import assert from "node:assert/strict";
import { inEgressScope } from "../../../src/ir/egress.js";
import type { ServiceModel } from "../../../src/ir/model.js";

const service = (namespace: string, name: string): ServiceModel => ({
  namespace,
  name,
  hostname: `${name}.${namespace}.svc.cluster.local`,
  ports: [{ name: "http", port: 80, protocol: "HTTP" }],
  endpoints: [],
});
const reviews = service("bookinfo", "reviews");
const ratings = service("bookinfo", "ratings");
const echo = service("shared", "echo");

describe("inEgressScope: which Services an egress scope takes in (Istio's Sidecar egress hosts)", () => {
  const cases: [string, { namespace: string; dnsName: string }[], ServiceModel[]][] = [
    ["*/* takes every Service", [{ namespace: "*", dnsName: "*" }], [reviews, ratings, echo]],
    ["ns/* takes its namespace's", [{ namespace: "bookinfo", dnsName: "*" }], [reviews, ratings]],
    [
      "ns/<hostname> takes that Service",
      [{ namespace: "bookinfo", dnsName: "reviews.bookinfo.svc.cluster.local" }],
      [reviews],
    ],
    [
      "*/<hostname> takes it in any namespace",
      [{ namespace: "*", dnsName: "echo.shared.svc.cluster.local" }],
      [echo],
    ],
    [
      "a hostname in another namespace than written takes nothing",
      [{ namespace: "bookinfo", dnsName: "echo.shared.svc.cluster.local" }],
      [],
    ],
    [
      "*.<suffix> takes hostnames under it, any depth",
      [{ namespace: "*", dnsName: "*.svc.cluster.local" }],
      [reviews, ratings, echo],
    ],
    [
      "*.<suffix> does not take the suffix itself",
      [{ namespace: "*", dnsName: "*.reviews.bookinfo.svc.cluster.local" }],
      [],
    ],
    ["~/* takes nothing", [{ namespace: "~", dnsName: "*" }], []],
    [
      "hosts add up",
      [
        { namespace: "~", dnsName: "*" },
        { namespace: "shared", dnsName: "*" },
      ],
      [echo],
    ],
  ];
  for (const [what, hosts, expected] of cases)
    it(what, () => {
      assert.deepEqual(
        [reviews, ratings, echo].filter((s) => inEgressScope(hosts, s)).map((s) => s.hostname),
        expected.map((s) => s.hostname),
      );
    });

  it("undefined hosts are the whole mesh", () => {
    assert.ok([reviews, ratings, echo].every((s) => inEgressScope(undefined, s)));
  });
});
