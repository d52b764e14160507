import assert from "node:assert/strict";
import { parseEgressHosts } from "../../../src/mesh/egress-hosts.js";

describe("egress hosts: the grammar of Istio's Sidecar egress.hosts", () => {
  it("takes <namespace>/<dnsName> with ., *, ~ and wildcard DNS names, comma-separated", () => {
    assert.deepEqual(
      parseEgressHosts(
        " ./*, istio-system/* ,*/reviews.bookinfo.svc.cluster.local,*/*.example.com,~/*,shared/*.shared.svc.cluster.local",
      ),
      [
        "./*",
        "istio-system/*",
        "*/reviews.bookinfo.svc.cluster.local",
        "*/*.example.com",
        "~/*",
        "shared/*.shared.svc.cluster.local",
      ],
    );
  });

  for (const malformed of [
    "reviews.bookinfo.svc.cluster.local", // no namespace
    "./", // no DNS name
    "Bookinfo/*", // not a namespace name
    "./rev*.bookinfo", // a wildcard only as the whole left-most label
    "./*.", // an empty label
    "a/b/c",
    "./*.*.example.com",
  ])
    it(`refuses ${JSON.stringify(malformed)}, naming it`, () => {
      assert.throws(
        () => parseEgressHosts(malformed),
        new RegExp(JSON.stringify(malformed).replace(/[.*/]/g, "\\$&")),
      );
    });

  it("refuses a value that lists no host", () => {
    assert.throws(() => parseEgressHosts(" , "), /lists no host/);
  });
});
