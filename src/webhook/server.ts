import { createServer, type Server } from "node:https";
import type { Logger } from "pino";
import {
  admissionResponse,
  type AdmissionDecision,
  type AdmissionRequest,
  type AdmissionReview,
} from "./admission.js";

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionDecision>;

const MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * An HTTPS server for admission webhooks: one handler per path. A malformed
 * review is answered 400; a handler that throws is answered with a denial
 * that carries the error, so with failurePolicy Fail the user sees why, and
 * with Ignore the API server goes on. The certificate can be replaced while
 * serving (rotation) with setCertificate.
 */
export class AdmissionServer {
  private readonly server: Server;

  constructor(
    tls: { certPem: string; keyPem: string },
    private readonly handlers: Record<string, AdmissionHandler>,
    private readonly logger: Logger,
  ) {
    this.server = createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: "TLSv1.2" }, (req, res) => {
      const handler = this.handlers[req.url?.split("?")[0] ?? ""];
      if (req.method === "GET" && req.url === "/healthz") {
        res.writeHead(200).end("ok");
        return;
      }
      if (!handler || req.method !== "POST") {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy();
        else chunks.push(chunk);
      });
      req.on("end", () => {
        void this.answer(handler, Buffer.concat(chunks).toString("utf8")).then(({ status, body }) => {
          res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
        });
      });
    });
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
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

  private async answer(handler: AdmissionHandler, text: string): Promise<{ status: number; body: unknown }> {
    let review: AdmissionReview;
    try {
      review = JSON.parse(text) as AdmissionReview;
      if (review.kind !== "AdmissionReview" || !review.request?.uid)
        throw new Error("not an AdmissionReview request");
    } catch (error) {
      return { status: 400, body: { error: `malformed AdmissionReview: ${(error as Error).message}` } };
    }
    const request = review.request;
    try {
      return { status: 200, body: admissionResponse(request.uid, await handler(request)) };
    } catch (error) {
      this.logger.error(
        { err: error, uid: request.uid, kind: request.kind.kind },
        "admission handler failed",
      );
      return {
        status: 200,
        body: admissionResponse(request.uid, {
          allowed: false,
          code: 500,
          message: `skiff webhook error: ${(error as Error).message}`,
        }),
      };
    }
  }
}
