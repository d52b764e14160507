import type { IContainer, IPod } from "kubernetes-models/v1";
import type { Mesh } from "../../api/v1alpha1/generated/mesh.js";
import { sidecarArgs, type ProxyLogLevel } from "../../inject/bootstrap.js";
import { PROXY_CONTAINER } from "../../inject/sidecar.js";
import { meshIdentity } from "../../mesh/defaults.js";
import { STATUS_ANNOTATION } from "../../mesh/annotations.js";
import { xdsServiceAddress } from "../../mesh/names.js";
import { refOf, type Analyzer } from "../analyzer.js";
import type { Detection } from "../finding.js";
import { isLive } from "../view.js";

/**
 * A running sidecar that differs from what the injector would inject now,
 * because the Mesh changed after the Pod was created: the proxy image (when
 * the Mesh names one; the default follows the operator's image, which the
 * cluster's objects do not show), the xDS address (the root namespace), or
 * Envoy's arguments (log level, concurrency). Envoy reads them once, at
 * start, so the Pod keeps the old ones until it is recreated.
 */
export const proxyOutdated: Analyzer = {
  code: "SKF0403",
  severity: "warning",
  name: "OutdatedProxy",
  fix: "Restart the Pod (kubectl rollout restart the Deployment that owns it) to inject the current sidecar.",
  analyze: (view) => {
    const mesh = view.mesh;
    if (!mesh) return [];
    const expected = expectedProxy(mesh);
    // Only the injector's sidecars: a Pod may carry a proxy container written by hand.
    const injected = (pod: IPod) => pod.metadata?.annotations?.[STATUS_ANNOTATION] !== undefined;
    return view.snapshot.pods
      .filter((pod) => isLive(pod) && injected(pod))
      .flatMap((pod): Detection[] => {
        const found = proxyContainerOf(pod);
        if (!found) return [];
        const { container, field } = found;
        const differences: string[] = [];
        if (expected.image !== undefined && container.image !== expected.image)
          differences.push(`image ${container.image ?? "(none)"}, the Mesh now gives ${expected.image}`);
        const args = container.args ?? [];
        if (JSON.stringify(args) !== JSON.stringify(expected.args))
          differences.push(`arguments ${changedArguments(args, expected.args)}`);
        if (differences.length === 0) return [];
        return [
          {
            object: refOf("Pod", pod.metadata),
            field:
              expected.image !== undefined && container.image !== expected.image
                ? `${field}.image`
                : `${field}.args`,
            message: `the sidecar was injected with an older configuration: ${differences.join("; ")}`,
          },
        ];
      });
  },
};

/** What the injector puts in the proxy container now (src/webhook/injection-settings.ts, from the Mesh). */
function expectedProxy(mesh: Mesh): { image?: string; args: string[] } {
  const proxy = mesh.spec?.injection?.proxy;
  const envoyArgs = sidecarArgs({
    ...(proxy?.logLevel ? { logLevel: proxy.logLevel as ProxyLogLevel } : {}),
    ...(proxy?.concurrency !== undefined ? { concurrency: proxy.concurrency } : {}),
  });
  const xdsAddress = xdsServiceAddress(meshIdentity(mesh).rootNamespace);
  return {
    ...(proxy?.image ? { image: proxy.image } : {}),
    args: ["agent", "sidecar", "--xds-address", xdsAddress, "--", ...envoyArgs],
  };
}

function proxyContainerOf(pod: IPod): { container: IContainer; field: string } | undefined {
  const containers = pod.spec?.containers ?? [];
  const index = containers.findIndex((c) => c.name === PROXY_CONTAINER);
  if (index !== -1) return { container: containers[index]!, field: `spec.containers[${index}]` };
  const init = pod.spec?.initContainers ?? [];
  const native = init.findIndex((c) => c.name === PROXY_CONTAINER);
  return native === -1 ? undefined : { container: init[native]!, field: `spec.initContainers[${native}]` };
}

/** The first argument that differs, in a few words: `--log-level debug, the Mesh now gives warning`. */
function changedArguments(have: readonly string[], want: readonly string[]): string {
  const at = have.findIndex((arg, i) => arg !== want[i]);
  const index = at === -1 ? have.length : at;
  const flag = index > 0 && have[index - 1]?.startsWith("--") ? `${have[index - 1]} ` : "";
  return `${flag}${have[index] ?? "(end)"}, the Mesh now gives ${flag}${want[index] ?? "(end)"}`;
}
