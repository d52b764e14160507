import assert from "node:assert/strict";
import { constants, createDeflate, inflateSync } from "node:zlib";
import {
  controlFrame,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  FLAG_FIN,
  FrameType,
  HEADER_DICTIONARY,
  headerBlockLength,
  readFrames,
  StoredHeaderWriter,
} from "../../../src/localnode/spdy-frames.js";

/** What a zlib inflater with SPDY's dictionary makes of a header stream, as the peer reads it. */
const inflated = (stream: Buffer) =>
  inflateSync(stream, { dictionary: HEADER_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH });

describe("SPDY/3.1 framing for the kubelet's port-forward", () => {
  it("has SPDY/3's header dictionary (1423 bytes, length-prefixed names first)", () => {
    assert.equal(HEADER_DICTIONARY.length, 1423);
    assert.deepEqual([...HEADER_DICTIONARY.subarray(0, 11)], [0, 0, 0, 7, ...Buffer.from("options")]);
  });

  it("writes control frames (version 3) and data frames (stream id, flags, 24-bit length)", () => {
    assert.equal(
      controlFrame(FrameType.PING, 0, Buffer.from([0, 0, 0, 7])).toString("hex"),
      "800300060000000400000007",
    );
    assert.equal(dataFrame(3, FLAG_FIN, Buffer.from("hi")).toString("hex"), "00000003010000026869");
  });

  it("reads whole frames and keeps an incomplete one for the next read", () => {
    const bytes = Buffer.concat([
      controlFrame(FrameType.SYN_STREAM, 0, Buffer.alloc(12)),
      dataFrame(0x7fffffff, FLAG_FIN, Buffer.from("abc")),
      dataFrame(5, 0, Buffer.from("tail")),
    ]);
    const first = readFrames(bytes.subarray(0, bytes.length - 2));
    assert.deepEqual(
      first.frames.map((f) => (f.control ? ["control", f.type, f.flags] : ["data", f.streamId, f.flags])),
      [
        ["control", FrameType.SYN_STREAM, 0],
        ["data", 0x7fffffff, FLAG_FIN],
      ],
    );
    assert.equal(first.rest.length, 8 + 2);
    const second = readFrames(Buffer.concat([first.rest, bytes.subarray(bytes.length - 2)]));
    assert.equal(second.frames.length, 1);
    assert.equal(second.frames[0]!.payload.toString(), "tail");
    assert.equal(second.rest.length, 0);
  });

  it("encodes and decodes header blocks, names in lower case", () => {
    const block = encodeHeaderBlock({ streamType: "data", port: "8080", requestID: "0" });
    assert.deepEqual(decodeHeaderBlock(block), { streamtype: "data", port: "8080", requestid: "0" });
    assert.equal(headerBlockLength(block), block.length);
    assert.equal(headerBlockLength(Buffer.concat([block, Buffer.from([1, 2])])), block.length);
    for (const cut of [0, 3, 4, 9, block.length - 1])
      assert.equal(headerBlockLength(block.subarray(0, cut)), undefined, `cut at ${cut}`);
  });

  it("writes header blocks as one zlib stream a dictionary inflater reads block by block", () => {
    const writer = new StoredHeaderWriter();
    const first = writer.block({});
    const second = writer.block({ port: "9" });
    // Each block ends as a sync flush does (an empty stored block), so a reader gets it whole.
    assert.deepEqual([...first.subarray(-5)], [0, 0, 0, 0xff, 0xff]);
    assert.deepEqual(inflated(first), encodeHeaderBlock({}));
    assert.deepEqual(
      inflated(Buffer.concat([first, second])),
      Buffer.concat([encodeHeaderBlock({}), encodeHeaderBlock({ port: "9" })]),
    );
  });

  it("reads a peer's compressed header blocks (zlib with the dictionary, sync-flushed)", async () => {
    const deflate = createDeflate({ dictionary: HEADER_DICTIONARY });
    const chunks: Buffer[] = [];
    deflate.on("data", (chunk: Buffer) => chunks.push(chunk));
    deflate.write(encodeHeaderBlock({ streamtype: "error", port: "8080", requestid: "1" }));
    await new Promise<void>((resolve) => deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    const block = inflated(Buffer.concat(chunks));
    assert.deepEqual(decodeHeaderBlock(block), { streamtype: "error", port: "8080", requestid: "1" });
  });
});
