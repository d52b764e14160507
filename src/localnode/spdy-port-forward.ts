import type { Duplex } from "node:stream";
import { createInflate, type Inflate } from "node:zlib";
import type { Logger } from "pino";
import { connectToPodPort, type PodPortConnection } from "./pod-port.js";
import {
  controlFrame,
  dataFrame,
  decodeHeaderBlock,
  FLAG_FIN,
  FrameType,
  HEADER_DICTIONARY,
  headerBlockLength,
  readFrames,
  RST_REFUSED_STREAM,
  StoredHeaderWriter,
  uint32,
  type Frame,
} from "./spdy-frames.js";

/** The port-forward subprotocol over SPDY (X-Stream-Protocol-Version), the only one the kubelet speaks. */
export const SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

/**
 * The client's header blocks: one zlib stream (with SPDY's dictionary)
 * carries them all, each sync-flushed, so each compressed block yields one
 * whole header block, which may come out of the inflater in several pieces.
 */
class HeaderReader {
  private readonly inflate: Inflate = createInflate({ dictionary: HEADER_DICTIONARY });
  private output: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;

  constructor() {
    this.inflate.on("data", (chunk: Buffer) => {
      this.output = Buffer.concat([this.output, chunk]);
      this.waiting?.();
    });
    this.inflate.on("error", (error) => {
      this.failure = error;
      this.waiting?.();
    });
  }

  async read(compressed: Buffer): Promise<Record<string, string>> {
    this.inflate.write(compressed);
    for (;;) {
      if (this.failure) throw this.failure;
      const length = headerBlockLength(this.output);
      if (length !== undefined) {
        const block = this.output.subarray(0, length);
        this.output = this.output.subarray(length);
        return decodeHeaderBlock(block);
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }

  close(): void {
    this.inflate.destroy();
  }
}

/** A forwarded connection: the client's error and data streams (same requestID), and the Pod's port. */
interface Forward {
  errorStream?: number;
  dataStream?: number;
  connection?: PodPortConnection;
}

/**
 * Serves the kubelet's SPDY port-forward on an upgraded connection, as the
 * real kubelet does (pkg/kubelet/cri/streaming/portforward/httpstream.go):
 * the client opens an error stream and a data stream per forwarded
 * connection, paired by their `requestID` header and naming the `port`; the
 * node connects to that port on the Pod's loopback and carries the data
 * stream to it; a failure is written on the error stream; both streams end
 * (FIN) when the Pod's side closes.
 */
export function servePortForwardOverSpdy(
  socket: Duplex,
  head: Buffer,
  netns: string,
  pod: string,
  log: Logger,
): void {
  const headerReader = new HeaderReader();
  const headerWriter = new StoredHeaderWriter();
  // Frames are handled one after another: a stream's header block must be read before its data.
  let handled: Promise<void> = Promise.resolve();
  const forwards = new Map<string, Forward>();
  const byStream = new Map<number, Forward>();
  let pending: Buffer = Buffer.alloc(0);

  const send = (frame: Buffer) => {
    if (!socket.destroyed && socket.writable) socket.write(frame);
  };
  const closeAll = () => {
    for (const forward of forwards.values()) forward.connection?.close();
    forwards.clear();
    byStream.clear();
  };

  const openStream = async (payload: Buffer) => {
    const streamId = payload.readUInt32BE(0) & 0x7fffffff;
    const headers = await headerReader.read(payload.subarray(10));
    const port = Number(headers["port"]);
    const requestId = headers["requestid"] ?? String(streamId);
    const type = headers["streamtype"];
    if ((type !== "error" && type !== "data") || !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      send(
        controlFrame(FrameType.RST_STREAM, 0, Buffer.concat([uint32(streamId), uint32(RST_REFUSED_STREAM)])),
      );
      return;
    }
    send(controlFrame(FrameType.SYN_REPLY, 0, Buffer.concat([uint32(streamId), headerWriter.block({})])));
    const forward = forwards.get(requestId) ?? {};
    forwards.set(requestId, forward);
    byStream.set(streamId, forward);
    if (type === "error") {
      forward.errorStream = streamId;
      return;
    }
    forward.dataStream = streamId;
    forward.connection = connectToPodPort(
      netns,
      port,
      (bytes) => send(dataFrame(streamId, 0, bytes)),
      (error) => {
        if (error && forward.errorStream !== undefined) {
          log.info({ pod, port, error }, "port-forward failed");
          send(
            dataFrame(
              forward.errorStream,
              0,
              Buffer.from(`error forwarding port ${port} to pod ${pod}: ${error}`),
            ),
          );
        }
        send(dataFrame(streamId, FLAG_FIN, Buffer.alloc(0)));
        if (forward.errorStream !== undefined)
          send(dataFrame(forward.errorStream, FLAG_FIN, Buffer.alloc(0)));
        forwards.delete(requestId);
        byStream.delete(streamId);
        if (forward.errorStream !== undefined) byStream.delete(forward.errorStream);
      },
    );
  };

  const handle = async (frame: Frame): Promise<void> => {
    if (!frame.control) {
      const forward = byStream.get(frame.streamId);
      if (forward?.dataStream !== frame.streamId || !forward.connection) return;
      if (frame.payload.length > 0) forward.connection.write(frame.payload);
      if (frame.flags & FLAG_FIN) forward.connection.endInput();
      return;
    }
    switch (frame.type) {
      case FrameType.SYN_STREAM:
        return openStream(frame.payload);
      case FrameType.RST_STREAM: {
        const streamId = frame.payload.readUInt32BE(0) & 0x7fffffff;
        byStream.get(streamId)?.connection?.close();
        byStream.delete(streamId);
        return;
      }
      case FrameType.PING:
        return send(controlFrame(FrameType.PING, 0, frame.payload));
      case FrameType.GOAWAY:
        closeAll();
        socket.end();
        return;
      default:
      // SETTINGS, WINDOW_UPDATE (spdystream keeps no flow control), HEADERS: nothing to do.
    }
  };

  const receive = (chunk: Buffer) => {
    const { frames, rest } = readFrames(Buffer.concat([pending, chunk]));
    pending = rest;
    handled = handled
      .then(async () => {
        for (const frame of frames) await handle(frame);
      })
      .catch((error: unknown) => {
        log.warn({ err: error, pod }, "bad SPDY frame; closing the port-forward connection");
        closeAll();
        socket.destroy();
      });
  };

  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
      `X-Stream-Protocol-Version: ${SPDY_PORT_FORWARD_PROTOCOL}\r\n\r\n`,
  );
  socket.on("data", receive);
  socket.on("close", () => {
    closeAll();
    headerReader.close();
  });
  socket.on("error", () => socket.destroy());
  if (head.length > 0) receive(head);
}
