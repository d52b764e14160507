import assert from "node:assert/strict";
import { formatIpValue, parseCidr, parseIp } from "../../../src/net/ip.js";

describe("CIDR parsing", () => {
  it("canonicalises as iptables-save prints: host bits cleared, IPv6 compressed", () => {
    const cases: [string, string][] = [
      ["10.1.2.3/8", "10.0.0.0/8"],
      ["0.0.0.0/0", "0.0.0.0/0"],
      ["169.254.169.254/32", "169.254.169.254/32"],
      ["FD00::1/8", "fd00::/8"],
      ["2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128"],
      ["2001:0db8:0000:0000:0000:0000:0000:0000/32", "2001:db8::/32"],
      ["::/0", "::/0"],
      ["::1/128", "::1/128"],
      ["::ffff:10.1.2.3/104", "::ffff:10.0.0.0/104"],
      ["1:0:0:1:0:0:0:1/128", "1:0:0:1::1/128"],
      ["1:0:0:2:0:0:3:4/128", "1::2:0:0:3:4/128"],
    ];
    for (const [input, canonical] of cases) assert.equal(parseCidr(input)?.cidr, canonical, input);
  });

  it("rejects what Kubernetes' isCIDR rejects", () => {
    for (const input of [
      "10.0.0.0",
      "10.0.0.0/33",
      "10.0.0/8",
      "010.0.0.0/8",
      "10.0.0.256/32",
      "10.0.0.0/08",
      "fd00::/129",
      "fd00:::1/64",
      "1::2::3/64",
      "fe80::1%eth0/64",
      "1:2:3:4:5:6:7:8:9/64",
      "",
      "/8",
    ])
      assert.equal(parseCidr(input), undefined, input);
  });
});

describe("address parsing", () => {
  it("reads IPv4, IPv6 and IPv6 with a dotted IPv4 tail, to the same value as their long forms", () => {
    assert.equal(parseIp("10.1.2.3")?.value, 0x0a010203n);
    assert.equal(parseIp("::1.2.3.4")?.value, 0x01020304n, "IPv4-compatible, not mapped");
    assert.equal(parseIp("::ffff:1.2.3.4")?.value, 0xffff01020304n);
    assert.equal(parseIp("2001:DB8::1")?.value, parseIp("2001:db8:0:0:0:0:0:1")?.value);
    assert.equal(parseIp("2001:db8::1")?.family, "ipv6");
  });

  it("rejects what Go's netip rejects: leading zeros, zones, short or long forms", () => {
    for (const input of [
      "010.0.0.1",
      "1.2.3",
      "0x0a.0.0.1",
      "256.1.1.1",
      "fe80::1%eth0",
      "1::2::3",
      "::1.2.3.04",
      "",
      "10.0.0.1/8",
    ])
      assert.equal(parseIp(input), undefined, input);
  });

  it("writes every part of a value", () => {
    assert.equal(formatIpValue("ipv4", 0x0a000001n), "10.0.0.1");
    assert.equal(formatIpValue("ipv6", 1n), "0:0:0:0:0:0:0:1");
  });
});
