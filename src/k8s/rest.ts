import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from "node:https";
import { request as httpRequest } from "node:http";

/** A failed API request, with the server's Status message. */
export class KubernetesApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly status: { message?: string; reason?: string; details?: unknown } | undefined,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${status?.reason ?? ""}: ${status?.message ?? "(no message)"}`);
    this.name = "KubernetesApiError";
  }
}

/** The API server does not serve a kind (its CRD is not installed, or the group/version is unknown). */
export class KindNotServedError extends Error {
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super(`the API server does not serve ${kind} in ${apiVersion}`);
    this.name = "KindNotServedError";
  }
}

/**
 * An API path whose interpolated values are each percent-encoded, so no
 * name, however strange, changes which resource a request reaches:
 *
 *     apiPath`/api/v1/namespaces/${namespace}/secrets/${name}`
 *
 * `/`, `?`, `#` and `%` in a value are encoded, so a value is one segment;
 * an empty value, and a path with a "." or ".." segment (which URL parsing
 * would resolve, encoded or not), is refused with an error. Every path that
 * carries a name, namespace or other value from outside is built with it.
 */
export function apiPath(literals: TemplateStringsArray, ...values: (string | number)[]): string {
  let path = literals[0]!;
  values.forEach((value, i) => {
    const text = value === undefined || value === null ? "" : String(value);
    if (text === "") throw new Error(`API path ${literals.join("…")}: value ${i + 1} is empty`);
    path += encodeURIComponent(text) + literals[i + 1]!;
  });
  refuseDotSegments(path);
  return path;
}

/** URL parsing resolves "." and ".." segments (also as %2e): a path with one would leave its place. */
function refuseDotSegments(path: string): void {
  const pathname = path.split(/[?#]/, 1)[0]!;
  for (const segment of pathname.split("/")) {
    const decoded = segment.replace(/%2e/gi, ".");
    if (decoded === "." || decoded === "..")
      throw new Error(`refusing API path ${JSON.stringify(path)}: it has a "${decoded}" segment`);
  }
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/**
 * A small JSON client for the Kubernetes REST API that sends and returns
 * objects exactly as the server speaks them.
 *
 * Why not @kubernetes/client-node's generic KubernetesObjectApi: it runs known
 * kinds through its typed model serializer, which silently drops wire fields
 * whose model names differ. A CustomResourceDefinition loses `enum`,
 * `default` and `x-kubernetes-validations` inside `properties` that way, and
 * the API server then accepts objects it should reject.
 */
export class RestClient {
  private readonly discovery = new Map<string, Promise<ApiResourceList>>();
  /** The connections kept between requests, for the TLS settings they were made with. */
  private kept: { settings: string; agent: HttpsAgent } | undefined;

  constructor(
    private readonly kubeConfig: KubeConfig,
    private readonly timeoutMs = 30_000,
  ) {}

  async request<T>(
    method: string,
    path: string,
    options: { body?: unknown; contentType?: string; query?: Record<string, string> } = {},
  ): Promise<T> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    // Defence in depth: a dot segment would make the request leave the path its caller meant.
    refuseDotSegments(path);
    const url = new URL(cluster.server.replace(/\/$/, "") + path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const requestOptions: RequestOptions = {
      method,
      headers: {
        Accept: "application/json",
        // Content-Length always: Node sends a DELETE's body neither chunked nor
        // with a length, so the API server would read no DeleteOptions at all.
        ...(payload
          ? {
              "Content-Type": options.contentType ?? "application/json",
              "Content-Length": Buffer.byteLength(payload),
            }
          : {}),
      },
    };
    await this.kubeConfig.applyToHTTPSOptions(requestOptions);
    if (url.protocol === "https:" && !cluster.proxyUrl) requestOptions.agent = this.keptAgent(requestOptions);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const { statusCode, text } = await new Promise<{ statusCode: number; text: string }>(
      (resolve, reject) => {
        const req = send(url, requestOptions, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ statusCode: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          res.on("error", reject);
        });
        // No request may hang forever: a stuck connection becomes an error the caller sees.
        req.setTimeout(this.timeoutMs, () =>
          req.destroy(new Error(`${method} ${path}: no answer in ${this.timeoutMs} ms`)),
        );
        req.on("error", reject);
        req.end(payload);
      },
    );
    if (statusCode < 200 || statusCode >= 300) {
      // Errors are usually a JSON Status, but not always (a 404 for an unknown API group is plain text).
      let status: KubernetesApiError["status"];
      try {
        status = JSON.parse(text) as KubernetesApiError["status"];
      } catch {
        status = { message: text.trim() };
      }
      throw new KubernetesApiError(statusCode, status, method, path);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * One keep-alive agent while the TLS settings stay the same: client-node
   * makes a new agent for every request, so each one paid a TLS handshake
   * on both sides (the xDS server's status writes spent more CPU in
   * handshakes than in anything of its own). The settings are read anew
   * with each request, so rotated credentials take a new agent.
   */
  private keptAgent(options: RequestOptions): HttpsAgent {
    const { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized } = options;
    const settings = JSON.stringify([ca, cert, key, pfx, passphrase, servername, rejectUnauthorized]);
    if (this.kept?.settings !== settings) {
      this.kept?.agent.destroy();
      const tls = { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized };
      const defined = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
      this.kept = { settings, agent: new HttpsAgent({ ...defined, keepAlive: true }) };
    }
    return this.kept.agent;
  }

  /** GET that answers undefined for 404 Not Found. */
  async getIfExists<T>(path: string): Promise<T | undefined> {
    try {
      return await this.request<T>("GET", path);
    } catch (error) {
      if (error instanceof KubernetesApiError && error.statusCode === 404) return undefined;
      throw error;
    }
  }

  /**
   * The REST path of an object, or of its collection without a name, found
   * through discovery. A namespaced kind's collection across all namespaces
   * takes `namespace: null`; an omitted namespace means "default", as kubectl.
   */
  async path(apiVersion: string, kind: string, namespace?: string | null, name?: string): Promise<string> {
    const groupVersion = apiVersion.split("/");
    if (groupVersion.length > 2) throw new Error(`${JSON.stringify(apiVersion)} is not an apiVersion`);
    const [group, version] = groupVersion.length === 2 ? groupVersion : [undefined, apiVersion];
    const base = group === undefined ? apiPath`/api/${apiVersion}` : apiPath`/apis/${group}/${version!}`;
    let list = this.discovery.get(apiVersion);
    if (!list) {
      list = this.request<ApiResourceList>("GET", base).catch((error: unknown) => {
        if (error instanceof KubernetesApiError && error.statusCode === 404)
          throw new KindNotServedError(apiVersion, kind);
        throw error;
      });
      this.discovery.set(apiVersion, list);
      list.catch(() => this.discovery.delete(apiVersion)); // a failed lookup may succeed later (a CRD just installed)
    }
    const resource = (await list).resources.find((r) => r.kind === kind && !r.name.includes("/"));
    if (!resource) {
      this.discovery.delete(apiVersion);
      throw new KindNotServedError(apiVersion, kind);
    }
    const scope =
      resource.namespaced && namespace !== null ? apiPath`/namespaces/${namespace || "default"}` : "";
    return `${base}${scope}${apiPath`/${resource.name}`}${name ? apiPath`/${name}` : ""}`;
  }

  async pathOf(obj: KubernetesObject): Promise<string> {
    if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) {
      throw new Error("an object needs apiVersion, kind and metadata.name");
    }
    return this.path(obj.apiVersion, obj.kind, obj.metadata.namespace, obj.metadata.name);
  }
}
