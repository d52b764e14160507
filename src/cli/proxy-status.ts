import { parseArgs } from "node:util";
import { durationMs } from "../api/duration.js";
import { DURATION_PATTERN } from "../api/schema.js";
import { ClusterAccessError } from "./cluster/kubeconfig.js";
import { EXIT_OK, EXIT_USAGE, UsageError } from "./exit-status.js";
import { configDiff } from "./proxy/config-diff.js";
import { meshProxies } from "./proxy/proxies.js";
import { isProxyOf, podNodeMatchers, resolvePod, type PodRef } from "./proxy/pod-argument.js";
import { proxyRow, statusTable, unhealthy } from "./proxy/status-table.js";
import {
  XDS_ACCESS_OPTIONS,
  XDS_ACCESS_USAGE,
  xdsAccessOptions,
  type XdsAccessOptions,
} from "./proxy/xds-options.js";

/** The exit status when a proxy NACKs or stays STALE, or a replica does not answer. */
const EXIT_UNHEALTHY = 1;
const DEFAULT_STALE_AFTER_SECONDS = 30;

const USAGE = `Usage: skiff proxy-status [<pod>[.<namespace>]] [-n <namespace>] [--stale-after 30s] [options]

Without a Pod: one row per proxy connected to any of the mesh's xDS servers,
read over CSDS: its kind (sidecar or proxyless), the state of each xDS type
(SYNCED: the proxy ACKed the last response; STALE: a response awaits its
answer; NACKED: it refused the last response; NOT SENT: nothing of the type
was sent, or the proxy does not ask the xDS server for it: a sidecar gets its
workload certificate (SDS) from its skiff agent, so SDS is the xDS server's
trust bundle only), its own version, its last ACK and the replica it is
connected to. The error of each NACK is printed under the table.

With a Pod: the difference between what the control plane wants the proxy to
run and what it ACKed last, per type, as a unified diff.

  -n, --namespace    the Pod's namespace (or give <pod>.<namespace>); default: default
  --stale-after      how long a type may wait for the proxy's answer (default ${DEFAULT_STALE_AFTER_SECONDS}s)
${XDS_ACCESS_USAGE}

Exit status: 0 all in sync; 1 a proxy NACKs, is STALE for longer than
--stale-after, a replica did not answer, or the cluster could not be read;
2 a usage error.`;

export async function runProxyStatus(argv: string[]): Promise<number> {
  let pod: PodRef | undefined;
  let staleAfterMs: number;
  let options: XdsAccessOptions;
  try {
    const parsed = parse(argv);
    const values = parsed.values;
    if (values.help) {
      console.log(USAGE);
      return EXIT_OK;
    }
    if (parsed.positionals.length > 1) throw new UsageError("give at most one Pod");
    staleAfterMs = parseStaleAfter(values["stale-after"] ?? `${DEFAULT_STALE_AFTER_SECONDS}s`);
    pod = parsed.positionals[0] ? resolvePod(parsed.positionals[0], values.namespace) : undefined;
    options = await xdsAccessOptions(values, pod?.namespace);
  } catch (error) {
    console.error(`skiff proxy-status: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const answer = await meshProxies(
      options,
      pod ? { nodeIds: podNodeMatchers(pod) } : { excludeResourceContents: true },
    );
    for (const problem of answer.problems) console.error(`skiff proxy-status: ${problem}`);
    const now = new Date();
    if (pod) {
      const chosen = answer.proxies.filter((proxy) => isProxyOf(proxy.config, pod));
      if (chosen.length === 0) {
        console.error(
          `skiff proxy-status: no proxy of the Pod ${pod.namespace}/${pod.name} is connected to the xDS servers asked`,
        );
        return EXIT_UNHEALTHY;
      }
      let problems = 0;
      for (const proxy of chosen) {
        console.log(`${proxy.config.node?.id} (xDS server ${proxy.replica})`);
        console.log(configDiff(proxy.config));
        for (const line of unhealthy(proxyRow(proxy), staleAfterMs, now)) {
          console.error(`skiff proxy-status: ${line}`);
          problems++;
        }
      }
      return problems > 0 || answer.incomplete ? EXIT_UNHEALTHY : EXIT_OK;
    }
    const rows = answer.proxies.map(proxyRow);
    console.log(statusTable(rows, now));
    const problems = rows.flatMap((row) => unhealthy(row, staleAfterMs, now));
    if (problems.length > 0) console.log(`\n${problems.join("\n")}`);
    return problems.length > 0 || answer.incomplete ? EXIT_UNHEALTHY : EXIT_OK;
  } catch (error) {
    if (error instanceof ClusterAccessError) {
      console.error(`skiff proxy-status: ${error.message}`);
      return EXIT_UNHEALTHY;
    }
    throw error;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...XDS_ACCESS_OPTIONS,
      namespace: { type: "string", short: "n" },
      "stale-after": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

/** "30s", "2m", "1m30s", "1500ms" (a duration as the CRDs write one), or plain seconds. */
function parseStaleAfter(text: string): number {
  const duration = /^\d+(?:\.\d+)?$/.test(text) ? `${text}s` : text;
  if (!text || !new RegExp(DURATION_PATTERN).test(duration))
    throw new UsageError(`--stale-after ${text} is not a duration such as 30s or 2m`);
  return durationMs(duration);
}
