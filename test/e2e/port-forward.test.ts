/**
 * Port-forward to a Pod of the local node through the real API server:
 * client-node's PortForward asks pods/portforward, the API server dials the
 * node's kubelet server (over TLS, with its kubelet client certificate) and
 * passes the WebSocket through, and the node connects to the port on the
 * Pod's loopback from inside the Pod's network namespace.
 */
import { PortForward } from "@kubernetes/client-node";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { get as httpGet } from "node:http";
import { request as httpsRequest } from "node:https";
import { PassThrough } from "node:stream";
import type WebSocket from "ws";
import {
  answeringPod,
  apply,
  deleteNamespace,
  fortioDeployment,
  meshCluster,
  meshNamespace,
  podByPrefix,
  rest,
  skipUnlessSupported,
  waitPodsReady,
} from "./kit.js";

const NS = "e2e-port-forward";
/** A port nothing in the Pod listens on. */
const CLOSED_PORT = 9;

interface Forwarded {
  /** What came back on the data channel. */
  data: string;
  /** What came back on the error channel. */
  error: string;
}

/**
 * Sends `bytes` to `port` of a Pod over one port-forward and collects what
 * comes back until the connection closes (the Pod's side closing closes it).
 */
async function forward(pod: string, port: number, bytes: string): Promise<Forwarded> {
  const output = new PassThrough();
  const errors = new PassThrough();
  const input = new PassThrough();
  const collect = (stream: PassThrough) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    return () => Buffer.concat(chunks).toString();
  };
  const [data, error] = [collect(output), collect(errors)];
  const ws = (await new PortForward(meshCluster().kubeConfig).portForward(
    NS,
    pod,
    [port],
    output,
    errors,
    input,
  )) as WebSocket;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`port-forward to ${pod}:${port} did not close`)), 30_000);
    ws.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
    input.write(bytes);
  });
  return { data: data(), error: error() };
}

/**
 * Runs `kubectl port-forward <pod> :<port>` (SPDY to the kubelet, through
 * the API server), sends an HTTP GET for each path at once to the local
 * port it prints, each on its own connection (its own pair of streams in
 * kubectl's one SPDY connection), and returns the answers (or the
 * requests' errors) with what kubectl printed.
 */
async function kubectlForward(
  pod: string,
  port: number,
  paths: string[],
): Promise<{ answers: string[]; kubectl: string }> {
  const { plane } = meshCluster();
  const kubectl = spawn(
    plane.binaries.kubectl,
    ["--kubeconfig", plane.kubeconfigPath, "-n", NS, "port-forward", `pod/${pod}`, `:${port}`],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let printed = "";
  kubectl.stdout.on("data", (chunk: Buffer) => (printed += chunk.toString()));
  kubectl.stderr.on("data", (chunk: Buffer) => (printed += chunk.toString()));
  try {
    const local = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`kubectl did not start forwarding:\n${printed}`)),
        30_000,
      );
      kubectl.stdout.on("data", () => {
        const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(printed);
        if (!match) return;
        clearTimeout(timer);
        resolve(Number(match[1]));
      });
      kubectl.once("exit", () => reject(new Error(`kubectl exited:\n${printed}`)));
    });
    const get = (path: string) =>
      new Promise<string>((resolve) => {
        const request = httpGet(
          { host: "127.0.0.1", port: local, path, agent: false, timeout: 20_000 },
          (response) => {
            let body = `HTTP ${response.statusCode}\n`;
            response.on("data", (chunk: Buffer) => (body += chunk.toString()));
            response.on("end", () => resolve(body));
          },
        );
        request.on("timeout", () => request.destroy(new Error("timed out")));
        request.on("error", (error) => resolve(`error: ${error.message}`));
      });
    const answers = await Promise.all(paths.map(get));
    // kubectl prints a forwarding error after the connection it was for is gone.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { answers, kubectl: printed };
  } finally {
    kubectl.kill();
  }
}

const debugRequest = (path = "/debug") => `GET ${path} HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n`;

describe("port-forward to a Pod of the local node through the API server", function () {
  let pod: string;

  before(async function () {
    skipUnlessSupported(this);
    await meshNamespace(NS);
    await apply([fortioDeployment(NS, "echo")]);
    await waitPodsReady(NS, 1);
    pod = (await podByPrefix(NS, "echo-")).metadata.name;
  });

  after(async () => {
    await deleteNamespace(NS).catch(() => {});
  });

  it("carries an HTTP request to the Pod's port and the Pod's answer back", async () => {
    const { data, error } = await forward(pod, 8080, debugRequest());
    assert.equal(error, "");
    assert.match(data, /^HTTP\/1\.1 200 OK\r\n/);
    assert.equal(answeringPod(data), pod, data);
  });

  it("reports a port nothing listens on on the error channel, and closes", async () => {
    const { data, error } = await forward(pod, CLOSED_PORT, debugRequest());
    assert.equal(data, "");
    assert.match(
      error,
      new RegExp(`error forwarding port ${CLOSED_PORT} to pod ${NS}/${pod}: .*ECONNREFUSED`),
    );
  });

  it("serves concurrent forwards, each its own connection", async () => {
    const answers = await Promise.all([
      forward(pod, 8080, debugRequest("/debug?first")),
      forward(pod, 8080, debugRequest("/debug?second")),
      forward(pod, 8080, debugRequest("/debug?third")),
    ]);
    for (const [index, name] of ["first", "second", "third"].entries()) {
      assert.equal(answers[index]!.error, "");
      assert.match(answers[index]!.data, new RegExp(`GET /debug\\?${name} HTTP/1\\.1`), answers[index]!.data);
      assert.equal(answeringPod(answers[index]!.data), pod);
    }
  });

  it("kubectl port-forward (SPDY to the kubelet) carries concurrent HTTP requests to the Pod", async () => {
    const paths = ["/debug?first", "/debug?second", "/debug?third"];
    const { answers, kubectl } = await kubectlForward(pod, 8080, paths);
    for (const [index, path] of paths.entries()) {
      assert.match(answers[index]!, /^HTTP 200\n/, `${answers[index]}\n${kubectl}`);
      assert.ok(answers[index]!.includes(`GET ${path} HTTP/1.1`), answers[index]);
      assert.equal(answeringPod(answers[index]!), pod, answers[index]);
    }
  });

  it("kubectl port-forward to a port nothing listens on prints the node's error", async () => {
    const { answers, kubectl } = await kubectlForward(pod, CLOSED_PORT, ["/debug"]);
    assert.match(answers[0]!, /^error: /, answers[0]);
    assert.match(
      kubectl,
      new RegExp(`error forwarding port ${CLOSED_PORT} to pod ${NS}/${pod}: .*ECONNREFUSED`),
      kubectl,
    );
  });

  it("the node's kubelet server answers only the API server's client certificate", async () => {
    const node = await rest().request<{ status: { daemonEndpoints: { kubeletEndpoint: { Port: number } } } }>(
      "GET",
      `/api/v1/nodes/${meshCluster().node.nodeName}`,
    );
    const port = node.status.daemonEndpoints.kubeletEndpoint.Port;
    assert.ok(port > 0, "the Node publishes its kubelet port");
    const user = meshCluster().kubeConfig.getCurrentUser()!;
    const cluster = meshCluster().kubeConfig.getCurrentCluster()!;
    const ca = Buffer.from(cluster.caData!, "base64");
    /** The status of a WebSocket upgrade to the kubelet server's port-forward, as the admin or as no one. */
    const upgrade = (withAdminCertificate: boolean) =>
      new Promise<string>((resolve) => {
        const req = httpsRequest(
          {
            host: "localhost",
            port,
            path: `/portForward/${NS}/${pod}?port=8080`,
            ca,
            ...(withAdminCertificate
              ? {
                  cert: Buffer.from(user.certData!, "base64"),
                  key: Buffer.from(user.keyData!, "base64"),
                }
              : {}),
            headers: {
              Connection: "Upgrade",
              Upgrade: "websocket",
              "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
              "Sec-WebSocket-Protocol": "v4.channel.k8s.io",
            },
          },
          (response) => resolve(String(response.statusCode)),
        );
        req.on("upgrade", () => resolve("101"));
        req.on("error", (error) => resolve(`error: ${error.message}`));
        req.end();
      });
    assert.equal(await upgrade(true), "403", "a client certificate of another user is refused");
    assert.match(
      await upgrade(false),
      /^error: /,
      "a client without a certificate is refused in the handshake",
    );
  });
});
