import assert from "node:assert/strict";
import {
  CHANNEL_PROTOCOL,
  channelMessage,
  chooseSubprotocol,
  parsePortForwardUrl,
  portPreamble,
  readDataMessage,
} from "../../../src/localnode/port-forward-protocol.js";

describe("the kubelet's WebSocket port-forward protocol", () => {
  describe("parsePortForwardUrl", () => {
    it("reads the Pod and the ports the API server sends (repeated port, comma lists)", () => {
      assert.deepEqual(parsePortForwardUrl("/portForward/shop/echo-1?port=8080&port=15000,9090"), {
        namespace: "shop",
        pod: "echo-1",
        ports: [8080, 15000, 9090],
      });
    });

    it("takes a trailing Pod uid and the clients' `ports` parameter", () => {
      assert.deepEqual(parsePortForwardUrl("/portForward/shop/echo-1/0f3c-uid?ports=80"), {
        namespace: "shop",
        pod: "echo-1",
        ports: [80],
      });
    });

    for (const [url, error] of [
      ["/exec/shop/echo-1?port=80", /not a port-forward path/],
      ["/portForward/shop?port=80", /not a port-forward path/],
      ["/portForward//echo-1?port=80", /not a port-forward path/],
      ["/portForward/shop/echo-1/uid/extra?port=80", /not a port-forward path/],
      ["/portForward/shop/echo-1", /"port" is required/],
      ["/portForward/shop/echo-1?port=0", /invalid port "0"/],
      ["/portForward/shop/echo-1?port=65536", /invalid port "65536"/],
      ["/portForward/shop/echo-1?port=80,", /invalid port ""/],
      ["/portForward/shop/echo-1?port=8o", /invalid port "8o"/],
      ["/portForward/shop/echo-1?port=-1", /invalid port "-1"/],
    ] as const) {
      it(`refuses ${url}`, () => {
        const parsed = parsePortForwardUrl(url);
        assert.ok("error" in parsed, JSON.stringify(parsed));
        assert.match(parsed.error, error);
      });
    }
  });

  describe("chooseSubprotocol", () => {
    it("answers client-node's offer (v5 first) with v4.channel.k8s.io, the binary protocol", () => {
      assert.equal(
        chooseSubprotocol(["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]),
        CHANNEL_PROTOCOL,
      );
    });

    it("takes a client that offers none, and refuses one offering only others (SPDY tunnelling, base64)", () => {
      assert.equal(chooseSubprotocol([]), null);
      assert.equal(chooseSubprotocol(["SPDY/3.1+portforward.k8s.io"]), undefined);
      assert.equal(chooseSubprotocol(["v4.base64.channel.k8s.io"]), undefined);
    });
  });

  describe("framing", () => {
    it("starts each port's channels with the port, little-endian", () => {
      assert.deepEqual([...portPreamble(0, 8080)], [0, 0x90, 0x1f]);
      assert.deepEqual([...portPreamble(3, 15000)], [3, 0x98, 0x3a]);
    });

    it("prefixes a payload with its channel", () => {
      assert.deepEqual([...channelMessage(1, Buffer.from("no"))], [1, 0x6e, 0x6f]);
    });

    it("reads a client's data message for port i on channel 2i", () => {
      assert.deepEqual(readDataMessage(Buffer.from([2, 0x41]), 2), {
        portIndex: 1,
        payload: Buffer.from("A"),
      });
      assert.deepEqual(readDataMessage(Buffer.from([0]), 1), { portIndex: 0, payload: Buffer.alloc(0) });
    });

    it("ignores empty messages, error channels and channels of ports not asked for", () => {
      assert.equal(readDataMessage(Buffer.alloc(0), 1), undefined);
      assert.equal(readDataMessage(Buffer.from([1, 0x41]), 1), undefined);
      assert.equal(readDataMessage(Buffer.from([2, 0x41]), 1), undefined);
    });
  });
});
