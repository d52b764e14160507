import { PortForward, type KubeConfig } from "@kubernetes/client-node";
import { createServer, type Server, type Socket } from "node:net";
import { ClusterAccessError } from "./kubeconfig.js";

/** A local port that reaches a Pod's port through the API server, as `kubectl port-forward` does. */
export interface PodForward {
  /** 127.0.0.1:<port>, for a client to dial. */
  readonly address: string;
  /** Why the API server refused the last forward, if it did (a 403 on pods/portforward, a Pod on no node). */
  failure(): string | undefined;
  close(): Promise<void>;
}

/**
 * Listens on an ephemeral loopback port and carries each connection to the
 * Pod's port over the API server's portforward subresource (client-node's
 * PortForward: kubernetes-fluent-client has no port-forward). Needs `create`
 * on pods/portforward in the Pod's namespace; a refusal surfaces when the
 * first connection is made, as the caller's RPC failing.
 */
export async function forwardPodPort(
  kubeConfig: KubeConfig,
  namespace: string,
  pod: string,
  port: number,
): Promise<PodForward> {
  const forward = new PortForward(kubeConfig, true);
  const sockets = new Set<Socket>();
  let failure: string | undefined;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // An upgrade the API server refuses rejects here: ending the socket makes the client's call fail.
    forward.portForward(namespace, pod, [port], socket, null, socket).catch((error: unknown) => {
      failure = `the API server did not forward to the Pod's port ${port}: ${oneLine(error)}`;
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(
        new ClusterAccessError(`cannot listen for a port-forward to ${namespace}/${pod}: ${error.message}`),
      ),
    );
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port: local } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${local}`,
    failure: () => failure,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** client-node rejects with an Error, a WebSocket ErrorEvent or the API server's Status: its message, in one line. */
function oneLine(error: unknown): string {
  const message =
    typeof error === "object" &&
    error !== null &&
    typeof (error as { message?: unknown }).message === "string"
      ? (error as { message: string }).message
      : JSON.stringify(error);
  return (message || String(error)).split("\n")[0] ?? "";
}
