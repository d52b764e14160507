import assert from "node:assert/strict";
import type { MeshSpec } from "../../../src/api/v1alpha1/generated/mesh.js";
import { interceptionOptions, iptablesArgs } from "../../../src/inject/interception.js";
import { DEFAULT_INTERCEPTION } from "../../../src/inject/iptables.js";
import {
  EXCLUDE_INBOUND_PORTS_ANNOTATION,
  EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION,
  EXCLUDE_OUTBOUND_PORTS_ANNOTATION,
} from "../../../src/mesh/annotations.js";

const mesh: MeshSpec = {
  injection: {
    interception: {
      excludeInboundPorts: [9090, 22],
      excludeOutboundPorts: [5432],
      excludeOutboundCIDRs: ["169.254.169.254/32", "fd00::/8"],
    },
  },
};

describe("interception options: the Mesh merged with the Pod's annotations", () => {
  it("are the defaults with no Mesh settings and no annotations", () => {
    assert.deepEqual(interceptionOptions(undefined, undefined), DEFAULT_INTERCEPTION);
    assert.deepEqual(interceptionOptions({}, {}), DEFAULT_INTERCEPTION);
  });

  it("take the Mesh's lists, sorted", () => {
    assert.deepEqual(interceptionOptions(mesh, {}), {
      ...DEFAULT_INTERCEPTION,
      excludeInboundPorts: [22, 9090],
      excludeOutboundPorts: [5432],
      excludeOutboundCIDRs: ["169.254.169.254/32", "fd00::/8"],
    });
  });

  it("add the annotations' lists to the Mesh's: sorted, deduplicated, CIDRs canonical, IPv4 first", () => {
    const options = interceptionOptions(mesh, {
      [EXCLUDE_INBOUND_PORTS_ANNOTATION]: "8080, 9090,22",
      [EXCLUDE_OUTBOUND_PORTS_ANNOTATION]: "3306",
      [EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION]: " 10.1.2.3/8 ,2001:DB8::/32,fd00::/8",
      "unrelated.example.com/annotation": "x",
    });
    assert.deepEqual(options, {
      ...DEFAULT_INTERCEPTION,
      excludeInboundPorts: [22, 8080, 9090],
      excludeOutboundPorts: [3306, 5432],
      excludeOutboundCIDRs: ["10.0.0.0/8", "169.254.169.254/32", "2001:db8::/32", "fd00::/8"],
    });
  });

  it("treat an empty annotation as adding nothing", () => {
    assert.deepEqual(
      interceptionOptions(mesh, {
        [EXCLUDE_INBOUND_PORTS_ANNOTATION]: "",
        [EXCLUDE_OUTBOUND_PORTS_ANNOTATION]: " ",
        [EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION]: "",
      }),
      interceptionOptions(mesh, {}),
    );
  });

  it("exclude a Prometheus port the Mesh moved from 15090 from inbound capture", () => {
    const moved = interceptionOptions({ observability: { metrics: { prometheusPort: 19090 } } }, {});
    assert.deepEqual(moved.excludeInboundPorts, [19090]);
    const standard = interceptionOptions({ observability: { metrics: { prometheusPort: 15090 } } }, {});
    assert.deepEqual(standard.excludeInboundPorts, []);
  });

  it("reject an annotation that does not parse, naming the annotation and the bad value", () => {
    const cases: [string, string, string][] = [
      [
        EXCLUDE_INBOUND_PORTS_ANNOTATION,
        "8080,http",
        'annotation traffic.skiff.dev/excludeInboundPorts: "http" in "8080,http" is not a port number (1-65535)',
      ],
      [
        EXCLUDE_INBOUND_PORTS_ANNOTATION,
        "0",
        'annotation traffic.skiff.dev/excludeInboundPorts: "0" in "0" is not a port number (1-65535)',
      ],
      [
        EXCLUDE_OUTBOUND_PORTS_ANNOTATION,
        "5432,,3306",
        'annotation traffic.skiff.dev/excludeOutboundPorts: "" in "5432,,3306" is not a port number (1-65535)',
      ],
      [
        EXCLUDE_OUTBOUND_PORTS_ANNOTATION,
        "65536",
        'annotation traffic.skiff.dev/excludeOutboundPorts: "65536" in "65536" is not a port number (1-65535)',
      ],
      [
        EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION,
        "10.0.0.0/8,10.0.0.1",
        'annotation traffic.skiff.dev/excludeOutboundIPRanges: "10.0.0.1" in "10.0.0.0/8,10.0.0.1" is not a CIDR such as 10.0.0.0/8 or fd00::/8',
      ],
      [
        EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION,
        "*",
        'annotation traffic.skiff.dev/excludeOutboundIPRanges: "*" in "*" is not a CIDR such as 10.0.0.0/8 or fd00::/8',
      ],
    ];
    for (const [annotation, value, message] of cases)
      assert.throws(
        () => interceptionOptions(mesh, { [annotation]: value }),
        (error: unknown) => error instanceof Error && error.message === message,
        `${annotation}: ${value}`,
      );
  });

  it("give the skiff iptables arguments, leaving out defaults", () => {
    assert.deepEqual(iptablesArgs(interceptionOptions(undefined, undefined)), []);
    assert.deepEqual(
      iptablesArgs(interceptionOptions(mesh, { [EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION]: "10.0.0.0/8" })),
      [
        "--exclude-inbound-ports",
        "22,9090",
        "--exclude-outbound-ports",
        "5432",
        "--exclude-outbound-cidrs",
        "10.0.0.0/8,169.254.169.254/32,fd00::/8",
      ],
    );
    assert.deepEqual(
      iptablesArgs({
        ...DEFAULT_INTERCEPTION,
        proxyUid: 2000,
        inboundCapturePort: 16006,
        outboundCapturePort: 16001,
      }),
      ["--proxy-uid", "2000", "--inbound-port", "16006", "--outbound-port", "16001"],
    );
  });
});
