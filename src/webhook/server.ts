import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { Logger } from "pino";
import {
  admissionResponse,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionReview,
} from "./admission.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

/**
 * The largest request body read, in bytes. The API server takes objects of
 * up to 3 MiB, and an UPDATE's review carries the object and the old object,
 * so twice that, and 1 MiB for the rest of the review. A bigger body is
 * answered 413 and not kept (a declared Content-Length at once, otherwise
 * once it is over).
 */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

/**
 * An HTTPS server for admission webhooks: one handler per path.
 *
 * Every request ends in an answer, and none can end the process:
 * - a review a handler can use gets 200 with an AdmissionReview; a handler
 *   that throws gets a denial that carries the error, so with failurePolicy
 *   Fail the user sees why, and with Ignore the API server goes on;
 * - anything else gets a 4xx with a JSON `{ error }`: 400 for a body that is
 *   not an admission.k8s.io/v1 AdmissionReview request (with a `uid` and a
 *   `kind`), 413 above MAX_BODY_BYTES, 415 for a Content-Type other than
 *   application/json, 404 for an unknown path;
 * - whatever else fails is logged and answered 500.
 *
 * The certificate can be replaced while serving (rotation) with setCertificate.
 */
export class AdmissionServer {
  private readonly server: Server;

  constructor(
    tls: { certPem: string; keyPem: string },
    private readonly handlers: Record<string, AdmissionHandler>,
    private readonly logger: Logger,
  ) {
    this.server = createServer(
      {
        cert: tls.certPem,
        key: tls.keyPem,
        minVersion: "TLSv1.2",
        // The API server waits 30 s at most for a webhook: a request still arriving after that is not its.
        headersTimeout: 10_000,
        requestTimeout: 30_000,
      },
      (req, res) => {
        this.serve(req, res).catch((error: unknown) => {
          this.logger.error({ err: error }, "admission request failed");
          try {
            if (res.headersSent) res.destroy();
            else send(res, 500, { error: "internal error" });
          } catch {
            res.destroy();
          }
        });
      },
    );
    // Without a listener, a server error (EMFILE on accept, say) would end the process.
    this.server.on("error", (error) => this.logger.error({ err: error }, "admission server error"));
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : port;
  }

  setCertificate(tls: { certPem: string; keyPem: string }): void {
    this.server.setSecureContext({ cert: tls.certPem, key: tls.keyPem, minVersion: "TLSv1.2" });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "").split("?")[0]!;
    if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200).end("ok");
      return;
    }
    // Own properties only: "/constructor" is not a handler.
    const handler = Object.hasOwn(this.handlers, path) ? this.handlers[path] : undefined;
    if (!handler || req.method !== "POST") {
      res.writeHead(404).end();
      return;
    }
    const contentType = req.headers["content-type"]?.split(";")[0]?.trim().toLowerCase();
    if (contentType !== "application/json") {
      send(res, 415, { error: `Content-Type must be application/json, not ${contentType ?? "absent"}` });
      return;
    }
    // Node discards the unread rest of a body it answered early, so the client reads the answer.
    if (Number(req.headers["content-length"]) > MAX_BODY_BYTES) {
      send(res, 413, { error: `the body is over ${MAX_BODY_BYTES} bytes` });
      return;
    }
    const body = await readBody(req);
    if (body === "aborted") return; // the client went away: nobody to answer
    if (body === "too-large") {
      send(res, 413, { error: `the body is over ${MAX_BODY_BYTES} bytes` });
      return;
    }
    const { status, body: answer } = await this.answer(handler, body);
    send(res, status, answer);
  }

  private async answer(handler: AdmissionHandler, text: string): Promise<{ status: number; body: unknown }> {
    const parsed = parseReview(text);
    if (typeof parsed === "string")
      return { status: 400, body: { error: `malformed AdmissionReview: ${parsed}` } };
    const request = parsed;
    try {
      return { status: 200, body: admissionResponse(request.uid, await handler(request)) };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.logger.error(
        { err: error, uid: request.uid, kind: request.kind.kind, namespace: request.namespace },
        "admission handler failed",
      );
      return {
        status: 200,
        body: admissionResponse(request.uid, {
          allowed: false,
          code: 500,
          message: `skiff webhook error: ${message}`,
        }),
      };
    }
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

/** The body as text; "too-large" past MAX_BODY_BYTES (the rest is read and dropped); "aborted" if the client left. */
function readBody(req: IncomingMessage): Promise<string | "too-large" | "aborted"> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) chunks = [];
      else chunks.push(chunk);
    });
    req.on("end", () =>
      resolve(size > MAX_BODY_BYTES ? "too-large" : Buffer.concat(chunks).toString("utf8")),
    );
    req.on("error", () => resolve("aborted"));
    req.on("close", () => resolve("aborted")); // no-op once "end" resolved
  });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The request of an admission.k8s.io/v1 AdmissionReview, or what is wrong with the text. */
function parseReview(text: string): AdmissionRequest | string {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  if (!isObject(review)) return "not a JSON object";
  const { apiVersion, kind, request } = review as Partial<Record<keyof AdmissionReview, unknown>>;
  if (apiVersion !== "admission.k8s.io/v1" || kind !== "AdmissionReview")
    return "apiVersion must be admission.k8s.io/v1 and kind AdmissionReview";
  if (!isObject(request)) return "no request";
  if (typeof request.uid !== "string" || request.uid === "") return "request.uid must be a non-empty string";
  const k = request.kind;
  if (
    !isObject(k) ||
    typeof k.group !== "string" ||
    typeof k.version !== "string" ||
    typeof k.kind !== "string"
  )
    return "request.kind must be a group, version and kind";
  if (request.namespace !== undefined && typeof request.namespace !== "string")
    return "request.namespace must be a string";
  if (typeof request.operation !== "string") return "request.operation must be a string";
  return request as unknown as AdmissionRequest;
}
