import type { KubeConfig } from "@kubernetes/client-node";
import { SERVER_METADATA } from "../../xds/status/client-config.js";
import { useKubeconfig } from "../cluster/kubeconfig.js";
import type { ClientConfig } from "./client-config-json.js";
import { CsdsCallError, fetchClientStatus, type NodeIdMatcher } from "./csds-client.js";
import type { XdsAccessOptions } from "./xds-options.js";
import { xdsAccess } from "./xds-replicas.js";

/** A proxy as one replica reported it. */
export interface ReportedProxy {
  readonly replica: string;
  readonly config: ClientConfig;
}

export interface MeshProxies {
  /** Every proxy once, sorted by node id. */
  readonly proxies: readonly ReportedProxy[];
  /** One line each: a replica that did not answer, a node id two replicas reported. */
  readonly problems: readonly string[];
  /** A replica did not answer: the command exits non-zero after printing what the others said. */
  readonly incomplete: boolean;
}

/**
 * Asks every xDS server replica (CSDS FetchClientStatus) about its proxies,
 * optionally only the given node ids, and merges the answers: a proxy is
 * connected to one replica, but one that reconnected may still be listed by
 * the replica it left until that stream closes; then the newest connection
 * (SKIFF_CONNECTED_AT) is kept and a problem line says so.
 */
export async function meshProxies(
  options: XdsAccessOptions,
  query: { nodeIds?: readonly NodeIdMatcher[]; excludeResourceContents?: boolean } = {},
): Promise<MeshProxies> {
  let kubeConfig: KubeConfig | undefined;
  const access = await xdsAccess(options, () => (kubeConfig ??= useKubeconfig(options)));
  try {
    const answers = await Promise.all(
      access.replicas.map(async (replica) => {
        try {
          const configs = await fetchClientStatus({
            address: replica.address,
            credentials: access.credentials,
            serverName: access.serverName,
            token: access.token,
            ...query,
          });
          return { replica: replica.name, configs };
        } catch (error) {
          if (!(error instanceof CsdsCallError)) throw error;
          return { replica: replica.name, error: replica.failure?.() ?? error.message };
        }
      }),
    );
    const problems: string[] = [];
    const byNode = new Map<string, ReportedProxy>();
    for (const answer of answers) {
      if ("error" in answer) {
        problems.push(`xDS server ${answer.replica} did not answer: ${answer.error}`);
        continue;
      }
      for (const config of answer.configs) {
        const proxy = { replica: answer.replica, config };
        const id = config.node?.id ?? "";
        const other = byNode.get(id);
        if (!other) {
          byNode.set(id, proxy);
          continue;
        }
        const [newer, older] = connectedAt(proxy) >= connectedAt(other) ? [proxy, other] : [other, proxy];
        byNode.set(id, newer);
        problems.push(
          `${id} is connected to both ${older.replica} and ${newer.replica}; showing the newer connection (${newer.replica})`,
        );
      }
    }
    const proxies = [...byNode.values()].sort((a, b) =>
      (a.config.node?.id ?? "").localeCompare(b.config.node?.id ?? ""),
    );
    return { proxies, problems, incomplete: answers.some((answer) => "error" in answer) };
  } finally {
    await access.close();
  }
}

function connectedAt(proxy: ReportedProxy): string {
  const at = proxy.config.node?.metadata?.[SERVER_METADATA.connectedAt];
  return typeof at === "string" ? at : "";
}
