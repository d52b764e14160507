import { createHash } from "node:crypto";
import type { EncodedResource } from "../cache/snapshot.js";

/**
 * The version_info of a state-of-the-world response: a hash of the names and
 * versions it carries, so the same content always has the same version for a
 * proxy and the server can tell "nothing to send" by comparing strings.
 * Resource versions are content hashes already, so hashing them is cheap and
 * never touches the encoded bytes.
 */
export function contentVersion(resources: Iterable<EncodedResource>): string {
  const entries = [...resources].map((r) => `${r.name}\u0000${r.version}`).sort();
  const hash = createHash("sha256");
  for (const e of entries) hash.update(e).update("\u0001");
  return hash.digest("hex").slice(0, 16);
}

/**
 * Nonces only need to be unique within one stream (the proxy echoes the
 * latest one back); a per-stream counter with the stream id keeps them
 * readable in logs and distinct across reconnects.
 */
export class NonceSource {
  private counter = 0;
  constructor(private readonly streamId: number) {}
  next(): string {
    this.counter += 1;
    return `${this.streamId}-${this.counter}`;
  }
}
