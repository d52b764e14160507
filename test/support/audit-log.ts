import { open, stat } from "node:fs/promises";

/** The fields of a kube-apiserver audit event (audit.k8s.io/v1 Event) that tests read. */
export interface AuditEvent {
  /** One per request: a request logs an event per stage, all with its auditID. */
  auditID: string;
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/**
 * Follows an API server audit log (LocalControlPlane's `auditLog`) from the
 * point it stands at when created, and collects each request of one user
 * once, in the order the API server handled them. Tests wait on these to act
 * on what a client has done rather than on how long it has been running,
 * which on a loaded machine says little.
 */
export class AuditLogFollower {
  /** The user's requests so far, one event each (the first stage logged). */
  readonly requests: AuditEvent[] = [];
  private readonly seen = new Set<string>();
  private partialLine = "";

  private constructor(
    private readonly path: string,
    private readonly username: string,
    private offset: number,
  ) {}

  static async fromNow(path: string, username: string): Promise<AuditLogFollower> {
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    return new AuditLogFollower(path, username, size);
  }

  /**
   * Reads every few milliseconds until `done` holds for the requests so far,
   * and returns them; fails after `timeoutMs`, saying how far the user got.
   */
  async waitFor(
    done: (requests: readonly AuditEvent[]) => boolean,
    timeoutMs: number,
  ): Promise<AuditEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.read();
      if (done(this.requests)) return this.requests;
      if (Date.now() > deadline) {
        throw new Error(
          `after ${timeoutMs} ms, ${this.username} had made ${this.requests.length} requests, the last: ${describeRequest(this.requests.at(-1))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Takes in what was appended since the last read; a line cut mid-write waits for its end. */
  private async read(): Promise<void> {
    const file = await open(this.path, "r").catch(() => undefined);
    if (!file) return; // not written yet
    try {
      const { size } = await file.stat();
      if (size <= this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, this.offset);
      this.offset += bytesRead;
      const lines = (this.partialLine + buffer.subarray(0, bytesRead).toString("utf8")).split("\n");
      this.partialLine = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = JSON.parse(line) as AuditEvent;
        if (event.user?.username !== this.username || this.seen.has(event.auditID)) continue;
        this.seen.add(event.auditID);
        this.requests.push(event);
      }
    } finally {
      await file.close();
    }
  }
}

/** "create secrets skiff-system/skiff-ca", for messages. */
export function describeRequest(event: AuditEvent | undefined): string {
  if (!event) return "none";
  const ref = event.objectRef ?? {};
  const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : (ref.resource ?? "");
  const name = [ref.namespace, ref.name].filter(Boolean).join("/");
  return [event.verb, resource, name].filter(Boolean).join(" ");
}
