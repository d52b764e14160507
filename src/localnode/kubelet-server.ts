import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import type { KubeletCredentials } from "../controlplane/controlplane.js";
import { connectToPodPort, type PodPortConnection } from "./pod-port.js";
import { servePortForwardOverSpdy, SPDY_PORT_FORWARD_PROTOCOL } from "./spdy-port-forward.js";
import {
  channelMessage,
  chooseSubprotocol,
  parsePortForwardPath,
  parsePortForwardUrl,
  portPreamble,
  readDataMessage,
  type PortForwardRequest,
} from "./port-forward-protocol.js";

/**
 * The part of a kubelet's API the local node serves: port-forward, over
 * WebSocket (client-node) and SPDY/3.1 (kubectl, and the API server's
 * translation of kubectl's WebSocket tunnel). It listens on
 * 127.0.0.1 over TLS and answers only the API server's kubelet client
 * certificate, so nothing else on the machine can reach into a Pod through it.
 */
export class KubeletServer {
  private readonly server: Server;
  // Called only when the client offered protocols; upgrade() has refused offers without ours.
  private readonly sockets = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => chooseSubprotocol([...offered]) ?? false,
  });
  private readonly open = new Set<WebSocket>();
  private readonly spdy = new Set<Duplex>();

  constructor(
    private readonly credentials: KubeletCredentials,
    /** The network namespace of a Pod that runs here, by namespace and name. */
    private readonly podNetns: (namespace: string, name: string) => string | undefined,
    private readonly log: Logger,
  ) {
    this.server = createServer({
      key: credentials.keyPem,
      cert: credentials.certPem,
      ca: credentials.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    });
    this.server.on("request", (_request, response) => {
      response
        .writeHead(404, { "Content-Type": "text/plain" })
        .end("the local node serves only /portForward\n");
    });
    this.server.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(request, socket, head),
    );
  }

  /** Listens on 127.0.0.1 at a free port; resolves to the port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("kubelet server has no TCP address");
    return address.port;
  }

  close(): void {
    for (const socket of this.open) socket.terminate();
    for (const socket of this.spdy) socket.destroy();
    this.server.close();
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: string, message: string) => {
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`,
      );
    };
    const peer = (socket as TLSSocket).getPeerCertificate();
    if (peer.subject?.CN !== this.credentials.clientUser)
      return refuse("403 Forbidden", `only ${this.credentials.clientUser} may use this kubelet\n`);
    const upgrade = request.headers.upgrade?.toLowerCase();
    if (upgrade === "spdy/3.1") return this.upgradeToSpdy(request, socket, head, refuse);
    if (upgrade !== "websocket")
      return refuse(
        "400 Bad Request",
        `the local node serves port-forward over WebSocket (v4.channel.k8s.io) and SPDY/3.1, not ${request.headers.upgrade}\n`,
      );
    const target = parsePortForwardUrl(request.url ?? "/");
    if ("error" in target) return refuse("400 Bad Request", `${target.error}\n`);
    const offered = (request.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (chooseSubprotocol(offered) === undefined)
      return refuse(
        "400 Bad Request",
        `none of the WebSocket protocols ${offered.join(", ")} is supported\n`,
      );
    const netns = this.podNetns(target.namespace, target.pod);
    if (!netns) return refuse("404 Not Found", `pod ${target.namespace}/${target.pod} does not run here\n`);
    this.sockets.handleUpgrade(request, socket, head, (ws) => this.forward(ws, target, netns));
  }

  /** kubectl's port-forward (directly, or through the API server's WebSocket-to-SPDY translation). */
  private upgradeToSpdy(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    refuse: (status: string, message: string) => void,
  ): void {
    const offered = String(request.headers["x-stream-protocol-version"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (offered.length > 0 && !offered.includes(SPDY_PORT_FORWARD_PROTOCOL))
      return refuse("403 Forbidden", `none of the stream protocols ${offered.join(", ")} is supported\n`);
    const target = parsePortForwardPath(request.url ?? "/");
    if ("error" in target) return refuse("400 Bad Request", `${target.error}\n`);
    const netns = this.podNetns(target.namespace, target.pod);
    if (!netns) return refuse("404 Not Found", `pod ${target.namespace}/${target.pod} does not run here\n`);
    this.spdy.add(socket);
    socket.once("close", () => this.spdy.delete(socket));
    servePortForwardOverSpdy(socket, head, netns, `${target.namespace}/${target.pod}`, this.log);
  }

  /** One WebSocket: a connection to each requested port, closed when all of them are. */
  private forward(ws: WebSocket, target: PortForwardRequest, netns: string): void {
    this.open.add(ws);
    const pod = `${target.namespace}/${target.pod}`;
    let remaining = target.ports.length;
    const connections: PodPortConnection[] = target.ports.map((port, index) => {
      const data = 2 * index;
      ws.send(portPreamble(data, port));
      ws.send(portPreamble(data + 1, port));
      return connectToPodPort(
        netns,
        port,
        (bytes) => ws.send(channelMessage(data, bytes)),
        (error) => {
          if (error) {
            this.log.info({ pod, port, error }, "port-forward failed");
            ws.send(
              channelMessage(data + 1, Buffer.from(`error forwarding port ${port} to pod ${pod}: ${error}`)),
            );
          }
          if (--remaining === 0) ws.close(1000);
        },
      );
    });
    ws.on("message", (message: Buffer, isBinary) => {
      if (!isBinary) return;
      const data = readDataMessage(message, target.ports.length);
      if (data && data.payload.length > 0) connections[data.portIndex]!.write(data.payload);
    });
    ws.on("close", () => {
      this.open.delete(ws);
      for (const connection of connections) connection.close();
    });
    ws.on("error", () => ws.terminate());
  }
}
