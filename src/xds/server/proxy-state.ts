import type { EncodedResource, ProxyNode, ProxyResponseStatus } from "../cache/snapshot.js";

/**
 * What the server remembers about the responses of one type on one stream,
 * and how it reports them: the outstanding response (at most one per type),
 * the last one sent, the last one ACKed and the last NACK. This is what
 * TrafficPolicy status and `skiff proxy-status` read.
 */

/** One response as sent. */
export interface SentResponse {
  readonly nonce: string;
  readonly generation: number;
  /** SotW: the response's version_info; delta: its system_version_info. */
  readonly version: string;
  /** SotW: every resource in the response; delta: the ones added or changed. */
  readonly names: readonly string[];
  /**
   * The snapshot's resources of the type the response was built from (a
   * reference to the map every proxy shares, not a copy): what the proxy
   * was sent, for CSDS.
   */
  readonly resources?: ReadonlyMap<string, EncodedResource>;
}

export interface Nack {
  readonly generation: number;
  readonly version: string;
  readonly message: string;
  readonly at: Date;
}

export interface ProxyTypeStatus {
  readonly typeUrl: string;
  readonly lastSentGeneration?: number;
  readonly lastSentVersion?: string;
  readonly lastAckedGeneration?: number;
  readonly lastAckedVersion?: string;
  /** When the proxy last ACKed a response of the type. */
  readonly lastAckedAt?: Date;
  /** When the last response of the type was sent (how long a STALE type has waited for an answer). */
  readonly lastSentAt?: Date;
  /** The type's resources as of the last response sent, and as of the last one ACKed (see SentResponse.resources). */
  readonly lastSentResources?: ReadonlyMap<string, EncodedResource>;
  readonly lastAckedResources?: ReadonlyMap<string, EncodedResource>;
  readonly lastNack?: Nack;
  /** A response was sent and the proxy has not answered it yet. */
  readonly awaitingAnswer: boolean;
  /** Subscribed to every resource of the type (filled in by the stream). */
  readonly wildcard?: boolean;
  /** Resources subscribed by name (filled in by the stream). */
  readonly names?: readonly string[];
}

export interface ProxyState {
  readonly streamId: number;
  readonly protocol: "sotw" | "delta";
  readonly node: ProxyNode;
  readonly peer: string;
  readonly connectedAt: Date;
  readonly types: readonly ProxyTypeStatus[];
  /** The generation the proxy runs in full (see AdsStream.syncedGeneration); undefined while in flux or after a NACK. */
  readonly syncedGeneration?: number;
  /** The newest generation the proxy has run in full on this stream (see AdsStream.ranGeneration); undefined before its first. */
  readonly ranGeneration?: number;
}

interface ErrorDetail {
  readonly message: string;
}

export class ResponseTracker {
  private inFlight?: SentResponse;
  private lastSent?: SentResponse;
  private lastSentAt?: Date;
  private lastAcked?: SentResponse;
  private lastAckedAt?: Date;
  private lastNack?: Nack;

  constructor(readonly typeUrl: string) {}

  get awaitingAnswer(): boolean {
    return this.inFlight !== undefined;
  }

  /** The proxy's latest answer of this type was a NACK. */
  get nackStands(): boolean {
    return this.lastNack !== undefined && this.lastNack.generation >= (this.lastAcked?.generation ?? -1);
  }

  get lastSentVersion(): string | undefined {
    return this.lastSent?.version;
  }

  sent(response: SentResponse): void {
    this.inFlight = response;
    this.lastSent = response;
    this.lastSentAt = new Date();
  }

  /**
   * A non-empty nonce other than the latest one sent for this type answers a
   * response the proxy has since been superseded by; the protocol says to
   * ignore such a request.
   */
  isStale(nonce: string): boolean {
    return nonce !== "" && nonce !== this.lastSent?.nonce;
  }

  /**
   * Records the answer to the outstanding response. Returns undefined when
   * the nonce does not name it (already answered, or never sent).
   */
  answer(
    proxyId: string,
    nonce: string,
    errorDetail: ErrorDetail | undefined,
  ): ProxyResponseStatus | undefined {
    const answered = this.inFlight;
    if (!answered || answered.nonce !== nonce) return undefined;
    this.inFlight = undefined;
    const base = {
      proxyId,
      typeUrl: this.typeUrl,
      generation: answered.generation,
      resourceNames: answered.names,
    };
    if (errorDetail === undefined) {
      this.lastAcked = answered;
      this.lastAckedAt = new Date();
      return { ...base, acked: true };
    }
    this.lastNack = {
      generation: answered.generation,
      version: answered.version,
      message: errorDetail.message,
      at: new Date(),
    };
    return { ...base, acked: false, errorDetail: errorDetail.message };
  }

  /** The type's status, with the subscription the stream keeps (`wildcard`, `names`). */
  status(wildcard?: boolean, names?: readonly string[]): ProxyTypeStatus {
    return {
      typeUrl: this.typeUrl,
      lastSentGeneration: this.lastSent?.generation,
      lastSentVersion: this.lastSent?.version,
      lastAckedGeneration: this.lastAcked?.generation,
      lastAckedVersion: this.lastAcked?.version,
      lastAckedAt: this.lastAckedAt,
      lastSentAt: this.lastSentAt,
      lastSentResources: this.lastSent?.resources,
      lastAckedResources: this.lastAcked?.resources,
      lastNack: this.lastNack,
      awaitingAnswer: this.awaitingAnswer,
      wildcard,
      names,
    };
  }
}
