import { Client, credentials, Metadata, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { REPLICA_PROGRAMMING_PATH } from "../server/service-definition.js";
import type { PeerAnswer } from "./replica-merge.js";
import { decodeReplicaReport } from "./replica-report.js";

/** Another xDS replica: a name for status messages, and where its ADS port is. */
export interface ReplicaPeer {
  readonly name: string;
  /** host:port */
  readonly address: string;
}

export interface PeerReplicasOptions {
  /** The other replicas now (replica-discovery.ts, or a fixed list). */
  readonly peers: () => readonly ReplicaPeer[];
  /** This replica's ServiceAccount token for the skiff audience, read anew each time (the kubelet rotates it). */
  readonly token: () => Promise<string>;
  /**
   * TLS: the mesh roots (PEM) the peer's certificate must chain to, now,
   * and the name it must carry (the Service's); undefined roots mean none
   * can be trusted yet, and every peer is unreachable. Absent: plaintext,
   * for servers run with --insecure.
   */
  readonly tls?: { readonly roots: () => string | undefined; readonly serverName: string };
  /** How long one peer may take to answer (default 2 s). */
  readonly timeoutMs?: number;
}

/**
 * Asks every other xDS replica for its report, all at once, over its ADS
 * port (skiff.xds.v1alpha1.ReplicaStatus/Programming) with this replica's
 * token. Never rejects: a peer that does not answer in time, refuses, or
 * answers nonsense is `unreachable`, with why. One channel per peer,
 * reused, and replaced when the mesh roots change.
 */
export class PeerReplicas {
  private readonly clients = new Map<string, { key: string; client: Client }>();

  constructor(private readonly options: PeerReplicasOptions) {}

  async ask(): Promise<PeerAnswer[]> {
    const peers = this.options.peers();
    for (const [address, { client }] of this.clients)
      if (!peers.some((p) => p.address === address)) {
        client.close();
        this.clients.delete(address);
      }
    if (peers.length === 0) return [];
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      const reason = `this replica has no token to ask with: ${(error as Error).message}`;
      return peers.map((peer) => ({ replica: peer.name, unreachable: reason }));
    }
    return Promise.all(peers.map((peer) => this.askOne(peer, token)));
  }

  close(): void {
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }

  private async askOne(peer: ReplicaPeer, token: string): Promise<PeerAnswer> {
    const client = this.client(peer.address);
    if (!client)
      return { replica: peer.name, unreachable: "no mesh root to verify its certificate with yet" };
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    const bytes = await new Promise<Buffer | ServiceError>((resolve) =>
      client.makeUnaryRequest(
        REPLICA_PROGRAMMING_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        metadata,
        { deadline: Date.now() + (this.options.timeoutMs ?? 2000) },
        (error, response) => resolve(error ?? response!),
      ),
    );
    if (bytes instanceof Error) return { replica: peer.name, unreachable: bytes.details || bytes.message };
    const report = decodeReplicaReport(bytes);
    return "error" in report
      ? { replica: peer.name, unreachable: report.error }
      : { replica: peer.name, report };
  }

  private client(address: string): Client | undefined {
    const tls = this.options.tls;
    const roots = tls?.roots();
    if (tls && !roots) return undefined;
    const key = roots ?? "";
    const kept = this.clients.get(address);
    if (kept?.key === key) return kept.client;
    kept?.client.close();
    const channelCredentials: ChannelCredentials = roots
      ? credentials.createSsl(Buffer.from(roots))
      : credentials.createInsecure();
    const client = new Client(
      address,
      channelCredentials,
      tls ? { "grpc.ssl_target_name_override": tls.serverName } : {},
    );
    this.clients.set(address, { key, client });
    return client;
  }
}
