import {
  credentials,
  makeGenericClientConstructor,
  Server,
  ServerCredentials,
  type Client,
  type MethodDefinition,
} from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { repositoryRoot } from "../controlplane/binaries.js";
import { applyManifests, readManifests } from "../k8s/manifests.js";
import { apiPath, RestClient } from "../k8s/rest.js";

/**
 * The `skiff dev` demo: reviews v1 and v2 as plain gRPC servers, and a
 * proxyless gRPC client (grpc-js-xds) that calls reviews through the mesh,
 * all in this process. The servers are published to the API server as Pods
 * and EndpointSlices, so Skiff routes to them exactly as it would to Pods a
 * kubelet runs. Every few seconds it prints the split the client observed
 * and the demo TrafficPolicy's conditions.
 */
const NAMESPACE = "skiff-demo";
const VERSIONS = ["v1", "v2"] as const;
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const method: MethodDefinition<object, { version: string }> = {
  path: "/skiff.demo.Reviews/Get",
  requestStream: false,
  responseStream: false,
  requestSerialize: json,
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as object,
  responseSerialize: json,
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as { version: string },
};
type ReviewsClient = Client & {
  get(req: object, options: object, cb: (err: Error | null, res?: { version: string }) => void): void;
};

/** EndpointSlices may not hold loopback addresses, so the servers listen on a real interface. */
function hostAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
}

export interface RunningDemo {
  stop(): Promise<void>;
}

export async function startDemo(
  kubeConfig: KubeConfig,
  xdsAddress: string,
  options: { logger: Logger; print: (text: string) => void; intervalMs?: number },
): Promise<RunningDemo | undefined> {
  const host = hostAddress();
  if (!host) {
    options.logger.warn(
      "no non-loopback IPv4 address: the traffic demo needs one for its EndpointSlices; skipped",
    );
    return undefined;
  }
  await applyManifests(
    kubeConfig,
    "skiff/dev",
    await readManifests(join(repositoryRoot(), "config", "samples", "demo")),
  );

  const servers: Server[] = [];
  const endpoints: KubernetesObject[] = [];
  for (const version of VERSIONS) {
    const server = new Server();
    server.addService(
      { get: method },
      { get: (_call: unknown, cb: (e: null, r: { version: string }) => void) => cb(null, { version }) },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:0`, ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    servers.push(server);
    const pod = `reviews-${version}`;
    endpoints.push(
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: pod, namespace: NAMESPACE, labels: { app: "reviews", version } },
        spec: { containers: [{ name: "reviews", image: "in-process" }] },
      } as KubernetesObject,
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: pod, namespace: NAMESPACE, labels: { "kubernetes.io/service-name": "reviews" } },
        addressType: "IPv4",
        ports: [{ name: "grpc", port, protocol: "TCP" }],
        endpoints: [
          {
            addresses: [host],
            conditions: { ready: true },
            targetRef: { kind: "Pod", name: pod, namespace: NAMESPACE },
          },
        ],
      } as KubernetesObject,
    );
  }
  await applyManifests(kubeConfig, "skiff/dev", endpoints);

  // grpc-js-xds reads its bootstrap from the environment when the first xds: channel is made.
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: "insecure" }], server_features: [] }],
    node: { id: "grpc~skiff-dev-demo", locality: {}, metadata: { GENERATOR: "grpc" } },
  });
  grpcXds.register();
  const Reviews = makeGenericClientConstructor({ get: method }, "skiff.demo.Reviews") as unknown as new (
    target: string,
    creds: ReturnType<typeof credentials.createInsecure>,
  ) => ReviewsClient;
  const client = new Reviews(
    `xds:///reviews.${NAMESPACE}.svc.cluster.local:9080`,
    credentials.createInsecure(),
  );

  const window: string[] = [];
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      const outcome = await new Promise<string>((resolve) =>
        client.get({}, { deadline: Date.now() + 2000 }, (err, res) =>
          resolve(err ? "error" : (res?.version ?? "?")),
        ),
      );
      window.push(outcome);
      if (window.length > 500) window.shift();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const running = loop();

  const rest = new RestClient(kubeConfig);
  const report = async () => {
    const counts = new Map<string, number>();
    for (const v of window) counts.set(v, (counts.get(v) ?? 0) + 1);
    const rows = [...counts].sort(([a], [b]) => a.localeCompare(b));
    const tp = await rest
      .getIfExists<{ status?: { conditions?: { type: string; status: string; reason: string }[] } }>(
        apiPath`/apis/skiff.dev/v1alpha1/namespaces/${NAMESPACE}/trafficpolicies/reviews`,
      )
      .catch(() => undefined);
    const conditions = (tp?.status?.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(" ");
    options.print(
      [
        `observed split of the last ${window.length} calls to reviews.${NAMESPACE} (proxyless gRPC through Skiff):`,
        ...rows.map(
          ([v, n]) =>
            `  ${v.padEnd(6)} ${String(n).padStart(4)}  ${((100 * n) / window.length).toFixed(1).padStart(5)}%`,
        ),
        `trafficpolicy ${NAMESPACE}/reviews: ${conditions || "no status yet"}`,
        "",
      ].join("\n"),
    );
  };
  const timer = setInterval(() => void report(), options.intervalMs ?? 3000);

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
      client.close();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.tryShutdown(() => resolve()))));
    },
  };
}
