/**
 * The kubelet's WebSocket port-forward protocol, as the real kubelet speaks
 * it (pkg/kubelet/cri/streaming/portforward/websocket.go): the API server
 * passes a client's upgrade of GET /portForward/<namespace>/<pod>?port=N
 * through to the kubelet. Each binary message starts with its channel
 * number; requested port i has data channel 2i and error channel 2i+1, and
 * the kubelet first sends the port number (2 bytes, little-endian) on both.
 */

/** The binary channel protocol; the kubelet also takes a client that names none. */
export const CHANNEL_PROTOCOL = "v4.channel.k8s.io";

export interface PortForwardRequest {
  namespace: string;
  pod: string;
  ports: number[];
}

/**
 * The Pod and ports of a kubelet port-forward URL (path and query), or why
 * it is not one. Ports come as repeated `port` parameters, each a comma list
 * (what the API server sends); `ports` (what clients send the API server) is
 * read too.
 */
export function parsePortForwardUrl(url: string): PortForwardRequest | { error: string } {
  const target = parsePortForwardPath(url);
  if ("error" in target) return target;
  const parsed = new URL(url, "https://kubelet");
  const values = [...parsed.searchParams.getAll("port"), ...parsed.searchParams.getAll("ports")];
  if (values.length === 0) return { error: 'query parameter "port" is required' };
  const ports: number[] = [];
  for (const text of values.flatMap((value) => value.split(","))) {
    const port = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(port >= 1 && port <= 65535)) return { error: `invalid port ${JSON.stringify(text)}` };
    ports.push(port);
  }
  return { ...target, ports };
}

/** The Pod of a kubelet port-forward URL (SPDY clients name the ports in each stream's headers instead). */
export function parsePortForwardPath(url: string): { namespace: string; pod: string } | { error: string } {
  const { pathname } = new URL(url, "https://kubelet");
  const segments = pathname.split("/").slice(1).map(decodeURIComponent);
  // A trailing segment is the Pod's uid, which the kubelet may be given too.
  if (
    segments[0] !== "portForward" ||
    segments.length < 3 ||
    segments.length > 4 ||
    !segments[1] ||
    !segments[2]
  )
    return { error: `not a port-forward path: ${pathname}` };
  return { namespace: segments[1], pod: segments[2] };
}

/**
 * The subprotocol to answer a client's Sec-WebSocket-Protocol offer with:
 * v4.channel.k8s.io, or none when the client offered none; undefined when it
 * offered only protocols we do not speak (the kubelet refuses those too).
 */
export function chooseSubprotocol(offered: readonly string[]): string | null | undefined {
  if (offered.length === 0) return null;
  return offered.includes(CHANNEL_PROTOCOL) ? CHANNEL_PROTOCOL : undefined;
}

/** A message on a channel. */
export function channelMessage(channel: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([channel]), payload]);
}

/** The first message on each of a port's channels: the port, 2 bytes little-endian. */
export function portPreamble(channel: number, port: number): Buffer {
  const message = Buffer.alloc(3);
  message[0] = channel;
  message.writeUInt16LE(port, 1);
  return message;
}

/** A client's message for the data channel of a requested port: its port index and payload. */
export function readDataMessage(
  message: Buffer,
  portCount: number,
): { portIndex: number; payload: Buffer } | undefined {
  if (message.length === 0) return undefined;
  const channel = message[0]!;
  // Odd channels are the server's error channels; a client writes only data.
  if (channel % 2 !== 0 || channel / 2 >= portCount) return undefined;
  return { portIndex: channel / 2, payload: message.subarray(1) };
}
