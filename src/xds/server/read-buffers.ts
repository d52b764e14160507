import type { ServerDuplexStream } from "@grpc/grpc-js";

/** The part of grpc-js 1.14's StreamDecoder (src/stream-decoder.ts) that holds on to received bytes. */
interface StreamDecoderInternals {
  readState: number;
  readCompressFlag: Buffer;
  readPartialMessage: Buffer[];
}

/** StreamDecoder's state between messages. */
const NO_DATA = 0;
const NO_FLAG = Buffer.alloc(1);

/**
 * grpc-js keeps, per call, the pieces of the last message it received
 * until the next one begins, and its one-byte compression flag is a slice
 * that keeps the whole received chunk alive. A sidecar's SotW EDS ACK
 * repeats its thousand names (~40 KB), so every idle stream held one: 53 of
 * the 96 MB of heap with a thousand sidecars connected. Between messages
 * that state is dead (the decoder replaces it when the next message
 * begins), so it is dropped here after each message.
 *
 * Reaches into grpc-js internals, pinned to the version in package.json;
 * the unit test fails if they move, so this never silently stops working.
 * Returns whether the decoder was found.
 */
export function releaseReadBuffers(call: ServerDuplexStream<unknown, unknown>): boolean {
  const decoder = decoderOf(call);
  if (!decoder) return false;
  if (decoder.readState === NO_DATA) {
    decoder.readPartialMessage = [];
    decoder.readCompressFlag = NO_FLAG;
  }
  return true;
}

function decoderOf(call: unknown): StreamDecoderInternals | undefined {
  // ServerDuplexStreamImpl.call is the BaseServerInterceptingCall that owns the decoder
  // (or, with interceptors, a chain of calls through nextCall).
  let current = (call as { call?: unknown }).call as { decoder?: unknown; nextCall?: unknown } | undefined;
  for (let depth = 0; current && depth < 8; depth++) {
    const decoder = current.decoder as Partial<StreamDecoderInternals> | undefined;
    if (decoder && Array.isArray(decoder.readPartialMessage) && typeof decoder.readState === "number")
      return decoder as StreamDecoderInternals;
    current = current.nextCall as typeof current;
  }
  return undefined;
}
