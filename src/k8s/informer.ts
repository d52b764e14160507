import { Watch, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { informerRelists } from "../observability/metrics.js";
import { RestClient } from "./rest.js";

export type InformerEvent<T> =
  { type: "add"; object: T } | { type: "update"; object: T; old: T } | { type: "delete"; object: T };

export interface InformerOptions {
  /** Watch one namespace; omitted: all namespaces (or a cluster-scoped kind). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver every cached object as an update this often, so controllers re-check drift (0: never). */
  resyncMs?: number;
  /** How long to wait before re-establishing a broken watch. */
  rewatchDelayMs?: number;
}

interface ObjectList<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

/** Cache key: namespace/name, or name for cluster-scoped objects. */
export function objectKey(obj: KubernetesObject): string {
  return obj.metadata?.namespace
    ? `${obj.metadata.namespace}/${obj.metadata.name}`
    : (obj.metadata?.name ?? "");
}

/** managedFields are large and no controller reads them; keeping them would double the cache's memory. */
function stripManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/**
 * The events that turn `cache` into `listed` after a relist: adds and updates
 * for what is new or changed (by resourceVersion), deletes for what is gone.
 */
export function relistEvents<T extends KubernetesObject>(
  cache: ReadonlyMap<string, T>,
  listed: readonly T[],
): InformerEvent<T>[] {
  const events: InformerEvent<T>[] = [];
  const seen = new Set<string>();
  for (const object of listed) {
    const key = objectKey(object);
    seen.add(key);
    const old = cache.get(key);
    if (!old) events.push({ type: "add", object });
    else if (old.metadata?.resourceVersion !== object.metadata?.resourceVersion)
      events.push({ type: "update", object, old });
  }
  for (const [key, object] of cache) if (!seen.has(key)) events.push({ type: "delete", object });
  return events;
}

/**
 * A list-then-watch cache of one kind, shared by every controller that needs
 * it (client-go's shared informer):
 * - it lists (in pages), then watches from the list's resourceVersion;
 * - a watch that ends is resumed from the last resourceVersion seen; a 410
 *   Gone (that version is compacted away) triggers a relist, whose difference
 *   from the cache is delivered as events, so no change is lost;
 * - managedFields are stripped from cached objects.
 */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers = new Set<(event: InformerEvent<T>) => void>();
  private readonly rest: RestClient;
  private resourceVersion = "";
  private abort: AbortController | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private synced = false;
  /** Relists done, for tests and metrics. */
  relists = 0;

  constructor(
    private readonly kubeConfig: KubeConfig,
    readonly apiVersion: string,
    readonly kind: string,
    private readonly options: InformerOptions = {},
  ) {
    this.rest = new RestClient(kubeConfig);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Subscribes to events; returns the unsubscribe function. Late subscribers get the cache as adds. */
  on(handler: (event: InformerEvent<T>) => void): () => void {
    this.handlers.add(handler);
    if (this.synced) for (const object of this.cache.values()) handler({ type: "add", object });
    return () => this.handlers.delete(handler);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(namespaceOrName: string, name?: string): T | undefined {
    return this.cache.get(name === undefined ? namespaceOrName : `${namespaceOrName}/${name}`);
  }

  /** Lists, starts watching, and resolves once the cache holds the initial list. */
  async start(): Promise<void> {
    await this.relist();
    // Stopped while listing (a sibling informer failed): start nothing that would outlive us.
    if (this.stopped) return;
    this.synced = true;
    this.watch();
    if (this.options.resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const object of this.cache.values()) this.emit({ type: "update", object, old: object });
      }, this.options.resyncMs);
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.abort?.abort();
  }

  private emit(event: InformerEvent<T>): void {
    for (const handler of this.handlers) handler(event);
  }

  private query(): Record<string, string> {
    const query: Record<string, string> = {};
    if (this.options.labelSelector) query.labelSelector = this.options.labelSelector;
    if (this.options.fieldSelector) query.fieldSelector = this.options.fieldSelector;
    return query;
  }

  private async collectionPath(): Promise<string> {
    return this.rest.path(this.apiVersion, this.kind, this.options.namespace ?? null);
  }

  private async relist(): Promise<void> {
    const path = await this.collectionPath();
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.rest.request<ObjectList<T>>("GET", path, {
        query: { ...this.query(), limit: "500", ...(continueToken ? { continue: continueToken } : {}) },
      });
      items.push(...page.items.map(stripManagedFields));
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (continueToken);
    // List items carry no apiVersion and kind; restore them so cached objects are complete.
    for (const item of items) Object.assign(item, { apiVersion: this.apiVersion, kind: this.kind });
    const events = relistEvents(this.cache, items);
    this.cache.clear();
    for (const item of items) this.cache.set(objectKey(item), item);
    this.resourceVersion = resourceVersion;
    this.relists++;
    informerRelists.inc({ kind: this.kind });
    for (const event of events) this.emit(event);
  }

  private watch(): void {
    if (this.stopped) return;
    let gone = false;
    const restart = () => {
      if (this.stopped) return;
      setTimeout(() => {
        if (this.stopped) return;
        (gone ? this.relist() : Promise.resolve()).then(
          () => this.watch(),
          () => restart(), // the API server is unreachable: keep trying
        );
      }, this.options.rewatchDelayMs ?? 1000);
    };
    this.collectionPath()
      .then((path) =>
        new Watch(this.kubeConfig).watch(
          path,
          { ...this.query(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true },
          (phase, apiObj: T & { code?: number }) => {
            if (phase === "ERROR") {
              if (apiObj.code === 410) gone = true;
              return;
            }
            const object = stripManagedFields(apiObj);
            if (object.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
            if (phase === "BOOKMARK") return;
            const key = objectKey(object);
            const old = this.cache.get(key);
            if (phase === "DELETED") {
              this.cache.delete(key);
              this.emit({ type: "delete", object });
            } else {
              this.cache.set(key, object);
              this.emit(old ? { type: "update", object, old } : { type: "add", object });
            }
          },
          (error: unknown) => {
            if ((error as { statusCode?: number })?.statusCode === 410) gone = true;
            restart();
          },
        ),
      )
      .then(
        (abort) => {
          this.abort = abort;
          if (this.stopped) abort.abort();
        },
        () => restart(),
      );
  }
}
