import type { KubeConfig, V1EndpointSlice } from "@kubernetes/client-node";
import { Informer } from "../../k8s/informer.js";
import type { ReplicaPeer } from "./peer-replicas.js";

/**
 * The other replicas of the xDS server, from the EndpointSlices of its
 * Service in its namespace: every endpoint, ready or not and terminating or
 * not, except this Pod's own. A replica still starting, or stopping, may
 * still hold proxies (or be about to), so it counts as a peer: if it does
 * not answer, status says its proxies are not known rather than leaving
 * them out. A stopped replica's endpoint leaves the slice, and its proxies
 * reconnect to the others.
 */
export class ReplicaDiscovery {
  private readonly informer: Informer<V1EndpointSlice>;

  constructor(
    kubeConfig: KubeConfig,
    private readonly settings: {
      readonly namespace: string;
      readonly service: string;
      readonly portName: string;
      /** This replica's Pod name. */
      readonly self: string;
    },
  ) {
    this.informer = new Informer<V1EndpointSlice>(kubeConfig, "discovery.k8s.io/v1", "EndpointSlice", {
      namespace: settings.namespace,
      labelSelector: `kubernetes.io/service-name=${settings.service}`,
    });
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  stop(): void {
    this.informer.stop();
  }

  /** Calls `listener` whenever the slices change. */
  onChange(listener: () => void): () => void {
    return this.informer.on(listener);
  }

  peers(): ReplicaPeer[] {
    return replicaPeers(this.informer.list(), this.settings.portName, this.settings.self);
  }
}

/** The endpoints of `slices` on the port named `portName`, but `self`'s. Pure. */
export function replicaPeers(
  slices: readonly V1EndpointSlice[],
  portName: string,
  self: string,
): ReplicaPeer[] {
  const peers = new Map<string, ReplicaPeer>();
  for (const slice of slices) {
    const port = slice.ports?.find((p) => p.name === portName)?.port;
    if (port === undefined) continue;
    const host = (address: string) => (slice.addressType === "IPv6" ? `[${address}]` : address);
    for (const endpoint of slice.endpoints) {
      if (endpoint.targetRef?.name === self) continue;
      for (const address of endpoint.addresses.slice(0, 1)) {
        const peer = { name: endpoint.targetRef?.name ?? address, address: `${host(address)}:${port}` };
        peers.set(peer.address, peer);
      }
    }
  }
  return [...peers.values()].sort((a, b) => a.name.localeCompare(b.name));
}
