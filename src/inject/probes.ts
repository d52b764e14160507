import type { IContainer, IEnvVar, IPod, IProbe } from "kubernetes-models/v1";
import { REWRITE_PROBES_ANNOTATION } from "../mesh/annotations.js";
import {
  APP_PROBERS_ENV,
  appHealthPath,
  type AppProbeKind,
  type AppProber,
  type AppProbers,
} from "../mesh/app-probers.js";
import { AGENT_HEALTH_PORT } from "../mesh/proxy.js";

/**
 * Probes under mTLS, as Istio's `/app-health/...` rewrite: the kubelet probes
 * from the node, in plaintext and without a certificate, so under STRICT the
 * sidecar refuses its HTTP and TCP probes and the Pod never becomes Ready.
 * The injector rewrites those probes to an HTTP GET on the sidecar agent's
 * port, which iptables does not capture, and the agent makes the original
 * probe from inside the Pod (src/agent/app-health.ts).
 *
 * Left alone:
 * - exec probes, which run inside the application container and never cross
 *   the sidecar;
 * - gRPC probes (not rewritten yet: under STRICT they fail as before);
 * - probes with a `host`, which the kubelet sends to that host, not the Pod;
 * - probes on a port name the container does not declare, which the kubelet
 *   reports itself;
 * - every probe of a Pod annotated `sidecar.skiff.dev/rewriteAppHTTPProbers: "false"`.
 */

/** A JSON patch operation that replaces one of the Pod's probes. */
export interface ProbeReplacement {
  op: "replace";
  path: string;
  value: IProbe;
}

/** What the injector does to a Pod's probes: the replacements, and the sidecar's environment variable naming the originals. */
export interface ProbeRewrite {
  replacements: ProbeReplacement[];
  /** Absent when nothing was rewritten. */
  env?: IEnvVar;
}

const FIELDS: readonly (readonly ["readinessProbe" | "livenessProbe" | "startupProbe", AppProbeKind])[] = [
  ["readinessProbe", "readyz"],
  ["livenessProbe", "livez"],
  ["startupProbe", "startupz"],
];

/** The rewrite of the application containers' probes. Pure. */
export function appProbeRewrite(pod: IPod): ProbeRewrite {
  if (pod.metadata?.annotations?.[REWRITE_PROBES_ANNOTATION] === "false") return { replacements: [] };
  const probers: Record<string, AppProber> = {};
  const replacements: ProbeReplacement[] = [];
  // Only spec.containers: the sidecar is appended after them, so their indexes stay valid in the patch.
  (pod.spec?.containers ?? []).forEach((container, index) => {
    for (const [field, kind] of FIELDS) {
      const probe = container[field];
      const prober = probe && appProber(container, probe);
      if (!prober) continue;
      const path = appHealthPath(container.name, kind);
      probers[path] = prober;
      replacements.push({
        op: "replace",
        path: `/spec/containers/${index}/${field}`,
        value: viaAgent(probe, path),
      });
    }
  });
  if (replacements.length === 0) return { replacements };
  const value = JSON.stringify(probers satisfies AppProbers);
  return { replacements, env: { name: APP_PROBERS_ENV, value } };
}

/** The same probe, timing and thresholds kept, aimed at the agent. */
function viaAgent(probe: IProbe, path: string): IProbe {
  const timing: IProbe = { ...probe };
  delete timing.httpGet;
  delete timing.tcpSocket;
  return { ...timing, httpGet: { path, port: AGENT_HEALTH_PORT, scheme: "HTTP" } };
}

/** What the agent must do for a probe, or undefined when the probe is left alone. */
function appProber(container: IContainer, probe: IProbe): AppProber | undefined {
  const timeoutSeconds = probe.timeoutSeconds ?? 1;
  if (probe.httpGet) {
    const get = probe.httpGet;
    const port = containerPort(container, get.port);
    if (get.host || port === undefined) return undefined;
    const headers = get.httpHeaders?.map(({ name, value }) => ({ name, value }));
    return {
      httpGet: {
        path: get.path ?? "/",
        port,
        scheme: get.scheme === "HTTPS" ? "HTTPS" : "HTTP",
        ...(headers?.length ? { httpHeaders: headers } : {}),
      },
      timeoutSeconds,
    };
  }
  if (probe.tcpSocket) {
    const port = containerPort(container, probe.tcpSocket.port);
    if (probe.tcpSocket.host || port === undefined) return undefined;
    return { tcpSocket: { port }, timeoutSeconds };
  }
  return undefined;
}

/**
 * A probe's port as the kubelet resolves it: a number, a name among the
 * container's ports, or (the kubelet's last resort) a number written as a string.
 */
function containerPort(container: IContainer, port: number | string): number | undefined {
  const resolved =
    typeof port === "number"
      ? port
      : (container.ports?.find((p) => p.name === port)?.containerPort ??
        (/^[0-9]+$/.test(port) ? Number(port) : undefined));
  return resolved !== undefined && Number.isInteger(resolved) && resolved >= 1 && resolved <= 65535
    ? resolved
    : undefined;
}
