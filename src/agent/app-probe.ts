import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import type { AppProber } from "../mesh/app-probers.js";

/** One probe's result, with what the kubelet would have said about it. */
export interface AppProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Makes one of the application's original probes, as the kubelet's prober
 * does, but from inside the Pod: HTTP GET (2xx and 3xx pass, redirects not
 * followed; HTTPS certificates not verified, as the kubelet does not) or a
 * TCP connect, to `host` (the Pod's loopback), within the probe's timeout.
 *
 * The agent runs as the proxy's uid, whose connections iptables never
 * captures, so the probe reaches the application directly even under STRICT.
 */
export function probeApp(prober: AppProber, host = "127.0.0.1"): Promise<AppProbeResult> {
  const timeoutMs = prober.timeoutSeconds * 1000;
  if (prober.httpGet) return probeHttp(prober.httpGet, host, timeoutMs);
  if (prober.tcpSocket) return probeTcp(prober.tcpSocket.port, host, timeoutMs);
  return Promise.resolve({ ok: false, detail: "the probe is neither httpGet nor tcpSocket" });
}

function probeHttp(
  get: NonNullable<AppProber["httpGet"]>,
  host: string,
  timeoutMs: number,
): Promise<AppProbeResult> {
  return new Promise((resolve) => {
    const target = `${get.scheme.toLowerCase()}://${host}:${get.port}${get.path}`;
    // The kubelet's own headers, which the probe's headers may override.
    const headers: Record<string, string> = { "User-Agent": "kube-probe/1.37", Accept: "*/*" };
    for (const h of get.httpHeaders ?? []) headers[h.name] = h.value;
    const send = get.scheme === "HTTPS" ? httpsRequest : httpRequest;
    const req = send(
      {
        host,
        port: get.port,
        path: get.path,
        headers,
        signal: AbortSignal.timeout(timeoutMs),
        ...(get.scheme === "HTTPS" ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        // The status decides; the body is not needed, so it is read and dropped.
        res.resume();
        const code = res.statusCode ?? 0;
        resolve({ ok: code >= 200 && code < 400, detail: `GET ${target}: ${code}` });
      },
    );
    req.once("error", (error) => {
      const why = error.name === "AbortError" ? `no answer within ${timeoutMs} ms` : error.message;
      resolve({ ok: false, detail: `GET ${target}: ${why}` });
    });
    req.end();
  });
}

function probeTcp(port: number, host: string, timeoutMs: number): Promise<AppProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, detail: `dial tcp ${host}:${port}: no connection within ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, detail: `dial tcp ${host}:${port}: connected` });
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `dial tcp ${host}:${port}: ${error.message}` });
    });
  });
}
