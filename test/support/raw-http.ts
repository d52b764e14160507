import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";

/** Where a connection goes, from where, and with which TLS client settings (none: plaintext). */
export interface SocketOptions {
  readonly host: string;
  readonly port: number;
  readonly localAddress: string;
  readonly tls?: ConnectionOptions;
}

/**
 * An HTTP/1.1 client connection that writes requests exactly as given (no
 * method upper-casing, any Host) and reads responses one at a time: status
 * line, headers, a Content-Length body. Enough for a server that answers
 * with Content-Length, as Envoy's local and direct responses do.
 */
export class HttpConnection {
  private buffer = Buffer.alloc(0);
  private waiting?: () => void;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.waiting?.();
    });
  }

  static open(options: SocketOptions): Promise<HttpConnection> {
    return new Promise((resolve, reject) => {
      const { tls, ...address } = options;
      const socket: Socket =
        tls === undefined
          ? netConnect(address, () => resolve(new HttpConnection(socket)))
          : tlsConnect({ ...address, ...tls }, () => resolve(new HttpConnection(socket)));
      socket.once("error", reject);
    });
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Sends one request (its full head, no body) and resolves with the response's status; one at a time. */
  request(head: string): Promise<number> {
    const done = this.queue.then(() => this.exchange(head));
    this.queue = done.catch(() => {});
    return done;
  }

  private async exchange(head: string): Promise<number> {
    if (this.closed) throw new Error("connection closed");
    this.socket.write(head);
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end >= 0) {
        const lines = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
        const status = Number(lines[0]!.split(" ")[1]);
        const length = Number(
          lines.find((l) => l.toLowerCase().startsWith("content-length:"))?.split(":")[1] ?? 0,
        );
        if (this.buffer.length >= end + 4 + length) {
          this.buffer = this.buffer.subarray(end + 4 + length);
          if (lines.some((l) => l.toLowerCase() === "connection: close")) this.close();
          return status;
        }
      }
      if (this.closed) throw new Error("connection closed before a full response");
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }
}
