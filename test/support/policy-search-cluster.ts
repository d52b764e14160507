import type { ClusterState } from "../../src/compile/state.js";
import { PROXY_CONTAINER } from "../../src/inject/sidecar.js";

/**
 * The cluster that generated policies are placed in: one namespace per case,
 * `case-<i>`, so that many cases compile, translate and go through one Envoy
 * run without meeting (a policy applies in its own namespace only, outside
 * the Mesh's root namespace). Each namespace holds the three kinds of port
 * the translator treats differently:
 * - reviews (HTTP, port 9080): two sidecar Pods, version v1 and v2;
 * - db (TCP, port 3306): one sidecar Pod;
 * - ratings (gRPC, port 9090): one proxyless gRPC Pod.
 */
export const CASE_SERVICES = ["reviews", "db", "ratings"] as const;
export const CASE_PORTS = [9080, 3306, 9090] as const;
/** Labels on every case namespace; the generated Mesh's injection selector uses them. */
export const CASE_NAMESPACE_LABELS = { "skiff.dev/injection": "enabled" } as const;
/** At most this many cases fit the address plan (10.96.<i>.x, 10.1.<i>.x). */
export const MAX_CASES = 250;

export const caseNamespace = (i: number) => `case-${i}`;

type Objects = Pick<ClusterState, "namespaces" | "services" | "endpointSlices" | "pods">;

/** The Namespaces, Services, EndpointSlices and Pods of `count` case namespaces. */
export function caseCluster(count: number): Objects {
  if (count > MAX_CASES) throw new Error(`at most ${MAX_CASES} cases, not ${count}`);
  const out: { [K in keyof Objects]: unknown[] } = {
    namespaces: [],
    services: [],
    endpointSlices: [],
    pods: [],
  };
  for (let i = 0; i < count; i++) {
    const namespace = caseNamespace(i);
    out.namespaces.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: namespace, labels: CASE_NAMESPACE_LABELS },
    });
    const service = (name: string, octet: number, port: { name: string; port: number }, pods: Pod[]) => {
      out.services.push({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace },
        spec: {
          clusterIP: `10.96.${i}.${octet}`,
          selector: { app: name },
          ports: [{ ...port, targetPort: port.port }],
        },
      });
      out.endpointSlices.push({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name: `${name}-abcde`, namespace, labels: { "kubernetes.io/service-name": name } },
        addressType: "IPv4",
        ports: [{ ...port, protocol: "TCP" }],
        endpoints: pods.map((p) => ({
          addresses: [`10.1.${i}.${p.octet}`],
          conditions: { ready: true },
          targetRef: { kind: "Pod", name: p.name, namespace },
        })),
      });
      for (const p of pods)
        out.pods.push({
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: p.name,
            namespace,
            labels: { app: name, version: p.version },
            ...(p.proxyless ? { annotations: { "proxy.skiff.dev/proxyless": "true" } } : {}),
          },
          spec: {
            serviceAccountName: name,
            // A sidecar Pod is a workload only with its injected proxy (compile's terminatesMeshTls).
            containers: [
              { name: "app", image: name },
              ...(p.proxyless ? [] : [{ name: PROXY_CONTAINER, image: "skiff-proxy" }]),
            ],
          },
          status: { phase: "Running", podIP: `10.1.${i}.${p.octet}` },
        });
    };
    service("reviews", 10, { name: "http", port: 9080 }, [
      { name: "reviews-v1", version: "v1", octet: 1 },
      { name: "reviews-v2", version: "v2", octet: 2 },
    ]);
    service("db", 20, { name: "tcp-mysql", port: 3306 }, [{ name: "db-v1", version: "v1", octet: 3 }]);
    service("ratings", 30, { name: "grpc", port: 9090 }, [
      { name: "ratings-v1", version: "v1", octet: 4, proxyless: true },
    ]);
  }
  return out as Objects;
}

interface Pod {
  name: string;
  version: string;
  octet: number;
  proxyless?: boolean;
}
