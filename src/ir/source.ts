/** Where a policy came from, so that proxy ACKs can be mapped back to it. */
export interface PolicySource {
  readonly namespace: string;
  readonly name: string;
  /** metadata.generation of the object compiled: status says which generation proxies run. */
  readonly generation: number;
}
