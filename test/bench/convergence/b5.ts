/**
 * B5: one TrafficPolicy per Service, created against the real API server as
 * fast as a client with `concurrency` requests in flight can, while N proxies
 * are connected. From the first create: all created, all Accepted=True, all
 * Programmed=True (each for the generation created), seen through a watch.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { Informer } from "../../../src/k8s/informer.js";
import { RestClient } from "../../../src/k8s/rest.js";
import { cpuSeconds, memoryKiB, resetPeak } from "../shared/proc.js";
import { unixMs } from "./clock.js";
import { NAMESPACE } from "./cluster.js";
import { inParallel } from "../../../src/xds/status/in-parallel.js";
import { holdsNow, type PolicyObject } from "./policy-status.js";
import { waitIdle, type XdsProcess } from "./xds-process.js";

const LABEL = "bench.skiff.dev/b5";
const COLLECTION = `/apis/skiff.dev/v1alpha1/namespaces/${NAMESPACE}/trafficpolicies`;

export interface B5Result {
  policies: number;
  proxies: number;
  concurrency: number;
  /** From the first create sent to the last create answered, to the last Accepted=True, to the last Programmed=True (ms); undefined: not reached before the timeout. */
  createdMs: number;
  acceptedMs: number | undefined;
  programmedMs: number | undefined;
  /** How many reached each state by the end. */
  accepted: number;
  programmed: number;
  /** The xDS server's CPU from the first create to the end, and its peak RSS (MiB). */
  serverCpuS: number;
  serverPeakRssMiB: number;
  peakReset: boolean;
  /** Status writes seen by the watch (updates after the create), over all policies. */
  statusUpdates: number;
}

function policy(service: string): PolicyObject {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: `b5-${service}`, namespace: NAMESPACE, labels: { [LABEL]: "true" } },
    spec: {
      targetRef: { kind: "Service", name: service },
      http: [{ name: "default", route: [{}], timeout: "3s" }],
    },
  };
}

export async function measurePolicyCreation(
  kubeConfig: KubeConfig,
  services: readonly string[],
  proxies: number,
  xds: XdsProcess,
  concurrency: number,
  timeoutMs: number,
): Promise<B5Result> {
  const rest = new RestClient(kubeConfig);
  const watch = new Informer<PolicyObject>(kubeConfig, "skiff.dev/v1alpha1", "TrafficPolicy", {
    namespace: NAMESPACE,
    labelSelector: LABEL,
  });
  await watch.start();
  const acceptedAt = new Map<string, number>();
  const programmedAt = new Map<string, number>();
  let statusUpdates = 0;
  let wake = () => {};
  const unsubscribe = watch.on((event) => {
    if (event.type === "delete") return;
    const name = event.object.metadata.name!;
    if (event.type === "update") statusUpdates += 1;
    if (!acceptedAt.has(name) && holdsNow(event.object, "Accepted")) acceptedAt.set(name, unixMs());
    if (!programmedAt.has(name) && holdsNow(event.object, "Programmed")) programmedAt.set(name, unixMs());
    wake();
  });
  const all = services.length;
  const peakReset = resetPeak(xds.child.pid);
  const cpu0 = cpuSeconds(xds.child.pid);
  const start = unixMs();
  await inParallel(services, concurrency, async (service) => {
    await rest.request("POST", COLLECTION, { body: policy(service) });
  });
  const createdMs = unixMs() - start;
  const deadline = start + timeoutMs;
  while (programmedAt.size < all && unixMs() < deadline)
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 1000);
    });
  const serverCpuS = cpuSeconds(xds.child.pid) - cpu0;
  unsubscribe();
  watch.stop();
  const last = (times: Map<string, number>) =>
    times.size === all ? Math.max(...times.values()) - start : undefined;
  return {
    policies: all,
    proxies,
    concurrency,
    createdMs,
    acceptedMs: last(acceptedAt),
    programmedMs: last(programmedAt),
    accepted: acceptedAt.size,
    programmed: programmedAt.size,
    serverCpuS,
    serverPeakRssMiB: memoryKiB(xds.child.pid, "VmHWM") / 1024,
    peakReset,
    statusUpdates,
  };
}

/** Deletes B5's policies (one request) and waits for the xDS server to have dealt with it. */
export async function deletePolicies(kubeConfig: KubeConfig, xds: XdsProcess): Promise<void> {
  await new RestClient(kubeConfig).request("DELETE", COLLECTION, { query: { labelSelector: LABEL } });
  await waitIdle(xds.child.pid, 15, 120_000);
}
