import type { IContainer, IProbe } from "kubernetes-models/v1";
import type { ProbeRequest } from "./node-side.js";

/** How to check a container: where to connect, how often, how many results flip it. */
export interface ProbePlan {
  check:
    | { type: "http" | "tcp"; request: Omit<ProbeRequest, "id" | "host"> }
    | { type: "exec"; command: string[]; timeoutMs: number }
    | { type: "unsupported"; why: string };
  initialDelayMs: number;
  periodMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/**
 * A probe of the spec as the kubelet reads it: its defaults (period 10 s,
 * timeout 1 s, thresholds 1 and 3) and named ports looked up among the
 * container's ports. Pure.
 */
export function probePlan(container: IContainer, probe: IProbe): ProbePlan {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  const port = (p: number | string | undefined): number | undefined =>
    typeof p === "number" ? p : container.ports?.find((cp) => cp.name === p)?.containerPort;
  let check: ProbePlan["check"];
  if (probe.httpGet) {
    const p = port(probe.httpGet.port);
    check =
      p === undefined
        ? { type: "unsupported", why: `no container port named ${probe.httpGet.port}` }
        : {
            type: "http",
            request: {
              type: "http",
              port: p,
              path: probe.httpGet.path ?? "/",
              scheme: probe.httpGet.scheme === "HTTPS" ? "HTTPS" : "HTTP",
              headers: probe.httpGet.httpHeaders ?? [],
              timeoutMs,
            },
          };
  } else if (probe.tcpSocket) {
    const p = port(probe.tcpSocket.port);
    check =
      p === undefined
        ? { type: "unsupported", why: `no container port named ${probe.tcpSocket.port}` }
        : { type: "tcp", request: { type: "tcp", port: p, timeoutMs } };
  } else if (probe.exec?.command?.length) {
    check = { type: "exec", command: probe.exec.command, timeoutMs };
  } else {
    check = { type: "unsupported", why: "only httpGet, tcpSocket and exec probes run on the local node" };
  }
  return {
    check,
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: (probe.periodSeconds ?? 10) * 1000,
    successThreshold: probe.successThreshold ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}

/**
 * Counts consecutive results the way the kubelet's worker does: the result
 * flips to success after successThreshold passes in a row and to failure
 * after failureThreshold failures in a row. `undefined` until the first flip.
 */
export class ProbeVerdict {
  private successes = 0;
  private failures = 0;
  value: boolean | undefined;

  constructor(private readonly plan: Pick<ProbePlan, "successThreshold" | "failureThreshold">) {}

  /** Records one result; returns true when the verdict changed. */
  record(ok: boolean): boolean {
    const before = this.value;
    if (ok) {
      this.failures = 0;
      if (++this.successes >= this.plan.successThreshold) this.value = true;
    } else {
      this.successes = 0;
      if (++this.failures >= this.plan.failureThreshold) this.value = false;
    }
    return before !== this.value;
  }
}
