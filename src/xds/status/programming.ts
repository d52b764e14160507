/**
 * How the proxies that a policy affects have taken one configuration
 * generation (counted by proxy-index.ts, over replicas by replica-merge.ts).
 */
export interface Programming {
  readonly targeted: number;
  /** Of the targeted, the proxyless gRPC clients: they carry out less than Envoy does (see UnsupportedSetting). */
  readonly proxyless: number;
  /** Of the targeted, those that run `generation` or newer, and whose answer since is no NACK. */
  readonly acked: number;
  /** Of the targeted, those whose latest answer since `generation` was a NACK. */
  readonly nacked: number;
  readonly lastNackMessage: string;
  /**
   * With several xDS replicas (replica-merge.ts): those whose proxies the
   * counts leave out, because they did not answer (`unheard`, with why) or
   * have not yet compiled this generation of the policy (`behind`).
   */
  readonly unheard?: readonly { readonly replica: string; readonly reason: string }[];
  readonly behind?: readonly string[];
}
