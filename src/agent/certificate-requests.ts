import { X509Certificate } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { Client, credentials as grpcCredentials } from "@grpc/grpc-js";
import type { XdsChannel } from "./xds-channel.js";
import type { Logger } from "pino";
import type { WorkloadCertificate } from "./certificate-files.js";
import { createCertificate, keyAndCsr } from "./ca-client.js";
import { watchMeshTrust, type MeshTrustUpdate } from "./sds-client.js";

export interface WatchCertificateOptions {
  /** host:port of Skiff's xDS server, which serves both ADS and the CA. */
  readonly address: string;
  /** How to reach it (see xdsChannel; default plaintext). */
  readonly channel?: XdsChannel;
  /** The agent's node on its ADS stream. */
  readonly node: { readonly id: string; readonly metadata?: JsonObject };
  /** The projected ServiceAccount token (audience skiff), read anew for each request: the kubelet rotates it. */
  readonly token: () => Promise<string>;
  readonly logger: Logger;
  /**
   * Called with each new certificate, and with the same one under a new
   * trust bundle; one call at a time, in order. A trust bundle is ACKed to
   * the server only once this has resolved.
   */
  readonly onCertificate: (certificate: WorkloadCertificate) => Promise<void>;
  /** Validity to ask for, in seconds; 0 (default) takes the Mesh's workloadValidity, the most granted anyway. */
  readonly validitySeconds?: number;
  /** Delay before retrying a failed request or reconnecting, doubled up to maxRetryMs (defaults 500 ms, 30 s). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

/** Certificates are replaced at 80% of their life, as Istio does. */
const RENEW_AT_FRACTION = 0.8;
/** A CSR that has no answer in this long is given up and retried. */
const REQUEST_DEADLINE_MS = 30_000;

interface HeldCertificate {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly leaf: X509Certificate;
}

/**
 * Keeps a workload certificate whose private key never leaves this process:
 * makes a fresh ECDSA P-256 key, sends a CSR for the SPIFFE ID the server
 * says the token proves (IstioCertificateService/CreateCertificate, with the
 * current token), and replaces key and certificate at 80% of its life. The
 * trust bundle, the SPIFFE ID and the current signer come over an
 * authenticated ADS stream (ROOTCA and skiff-issuer, see sds-client.ts):
 * a new bundle is handed on at once with the same certificate, and a signer
 * that did not issue the held certificate (step 2 of the staged root
 * rotation) makes the agent request a new one at once. Failed requests
 * (UNAVAILABLE while the API server or CA is not ready, and any other) are
 * retried with backoff.
 */
export function watchCertificate(options: WatchCertificateOptions): { stop(): void } {
  const client = new Client(
    options.address,
    options.channel?.credentials ?? grpcCredentials.createInsecure(),
    options.channel?.options ?? {},
  );
  const firstRetryMs = options.retryMs ?? 500;
  let retryMs = firstRetryMs;
  let trust: MeshTrustUpdate | undefined;
  let held: HeldCertificate | undefined;
  let requesting = false;
  let stopped = false;
  let renewTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  // What was last handed on, and the queue that keeps hand-offs in order.
  let handedOn: { chainPem: string; roots: string } | undefined;
  let handing = Promise.resolve();

  const handOn = (): Promise<void> => {
    const work = handing.then(async () => {
      if (!held || !trust || stopped) return;
      const next = { chainPem: held.chainPem, roots: trust.rootCertificatesPem };
      if (handedOn?.chainPem === next.chainPem && handedOn.roots === next.roots) return;
      await options.onCertificate({
        certificateChainPem: held.chainPem,
        privateKeyPem: held.keyPem,
        rootCertificatesPem: trust.rootCertificatesPem,
      });
      handedOn = next;
    });
    handing = work.catch(() => {});
    return work;
  };

  const retryLater = () => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void request("retry");
    }, retryMs);
    retryMs = Math.min(retryMs * 2, options.maxRetryMs ?? 30_000);
  };

  const request = async (reason: string): Promise<void> => {
    if (stopped || requesting || !trust) return;
    requesting = true;
    const { spiffeId } = trust;
    try {
      const { privateKeyPem, csrPem } = await keyAndCsr(spiffeId);
      const chain = await createCertificate(client, {
        token: await options.token(),
        csrPem,
        validitySeconds: options.validitySeconds ?? 0,
        deadlineMs: REQUEST_DEADLINE_MS,
      });
      if (stopped) return;
      const leaf = new X509Certificate(chain[0]!);
      held = { chainPem: chain.join(""), keyPem: privateKeyPem, leaf };
      scheduleRenewal(leaf);
      options.logger.info(
        { reason, identity: spiffeId, serial: leaf.serialNumber, notAfter: leaf.validTo },
        "got a workload certificate",
      );
      await handOn();
      retryMs = firstRetryMs;
      // The signer changed while this request was under way: ask again, after a pause.
      if (trust && !issuedBy(leaf, trust.signerPem)) retryLater();
    } catch (error) {
      options.logger.warn({ err: error, reason, retryInMs: retryMs }, "requesting a certificate failed");
      retryLater();
    } finally {
      requesting = false;
    }
  };

  const scheduleRenewal = (leaf: X509Certificate) => {
    clearTimeout(renewTimer);
    // 80% of the life left now: notBefore is backdated for clock skew, so it is not when the life began.
    const life = Date.parse(leaf.validTo) - Date.now();
    renewTimer = setTimeout(() => void request("renewal"), Math.max(1000, RENEW_AT_FRACTION * life));
  };

  const trustWatch = watchMeshTrust({
    client,
    node: options.node,
    token: options.token,
    logger: options.logger,
    ...(options.retryMs === undefined ? {} : { retryMs: options.retryMs }),
    ...(options.maxRetryMs === undefined ? {} : { maxRetryMs: options.maxRetryMs }),
    onTrust: async (update) => {
      trust = update;
      if (!held) void request("first");
      else if (!issuedBy(held.leaf, update.signerPem)) void request("new signer");
      // The same certificate under the new bundle, on disk before the bundle is ACKed.
      await handOn();
    },
  });

  return {
    stop() {
      stopped = true;
      clearTimeout(renewTimer);
      clearTimeout(retryTimer);
      trustWatch.stop();
      client.close();
    },
  };
}

/** Whether `signerPem` (its first certificate) issued and signed `leaf`. */
function issuedBy(leaf: X509Certificate, signerPem: string): boolean {
  try {
    const signer = new X509Certificate(signerPem);
    return leaf.checkIssued(signer) && leaf.verify(signer.publicKey);
  } catch {
    return false;
  }
}
