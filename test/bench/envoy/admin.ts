/**
 * GETs on an Envoy's admin endpoint on loopback, over kept-alive connections,
 * so that polling 100 Envoys costs a request each and no connection setup.
 */
import { Agent, get } from "node:http";

const agent = new Agent({ keepAlive: true, maxSockets: 2 });

/** The body of GET http://127.0.0.1:<port><path>; rejects on a status other than 200. */
export function adminGet(port: number, path: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get({ host: "127.0.0.1", port, path, agent, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${path}: HTTP ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`${path}: no answer in ${timeoutMs} ms`)));
    request.on("error", reject);
  });
}

/** Closes the kept-alive connections, so that they keep neither the benchmark nor an Envoy's drain waiting. */
export function closeAdminConnections(): void {
  agent.destroy();
}
