/**
 * B9's meshes: the xDS benchmark's synthetic Services (test/bench/xds/fixture.ts),
 * with a Mesh, and two client Pods whose sidecars the benchmark's Envoys are:
 * envoy-0, scoped by annotation to the first SCOPED Services, and envoy-1,
 * unscoped (the whole mesh). Both are served by the real compile, translate,
 * MeshSnapshots and AdsServer, in this process.
 */
import type { IPod } from "kubernetes-models/v1";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { EGRESS_HOSTS_ANNOTATION, INJECTION_LABEL } from "../../../src/mesh/annotations.js";
import { MeshSnapshots } from "../../../src/xds/cache/mesh-snapshots.js";
import { AdsServer } from "../../../src/xds/server/ads-server.js";
import { translate } from "../../../src/xds/translate/translate.js";
import { clusterState, NAMESPACE } from "../xds/fixture.js";

/** How many Services the scoped workload calls, and is scoped to. */
export const SCOPED = 5;
export const SCOPED_CLIENT = 0;
export const UNSCOPED_CLIENT = 1;

/** Service i's hostname, as the fixture names it. */
function hostname(i: number, services: number): string {
  return `svc-${String(i).padStart(String(services - 1).length, "0")}.${NAMESPACE}.svc.cluster.local`;
}

function client(index: number, annotations: Record<string, string>): IPod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    // benchNodeId(index, "envoy") names this Pod.
    metadata: {
      name: `envoy-${index}`,
      namespace: NAMESPACE,
      labels: { app: "client" },
      annotations: { "sidecar.skiff.dev/status": "injected", ...annotations },
    },
    spec: { containers: [{ name: "app", image: "client" }] },
    status: { phase: "Running", podIP: `10.0.0.${index + 1}` },
  };
}

/** The cluster state: `services` Services with 10 endpoints each, a Mesh, and the two clients. */
export function scopeState(services: number): ClusterState {
  const state = clusterState({ services, endpoints: 10 * services });
  const hosts = Array.from({ length: Math.min(SCOPED, services) }, (_, i) => `./${hostname(i, services)}`);
  return {
    ...state,
    mesh: { apiVersion: "skiff.dev/v1alpha1", kind: "Mesh", metadata: { name: "default" }, spec: {} },
    namespaces: state.namespaces.map((ns) => ({
      ...ns,
      metadata: { ...ns.metadata, labels: { [INJECTION_LABEL]: "enabled" } },
    })),
    pods: [
      ...state.pods,
      client(SCOPED_CLIENT, { [EGRESS_HOSTS_ANNOTATION]: hosts.join(",") }),
      client(UNSCOPED_CLIENT, {}),
    ],
  };
}

/** Serves the mesh of `services` Services on loopback; its address and a stop. */
export async function serveMesh(services: number): Promise<{ address: string; stop: () => Promise<void> }> {
  const snapshots = new MeshSnapshots();
  snapshots.publish(translate(compile(scopeState(services)).model));
  const server = new AdsServer(snapshots);
  const port = await server.start("127.0.0.1:0");
  return { address: `127.0.0.1:${port}`, stop: () => server.stop() };
}
