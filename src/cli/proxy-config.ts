import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { ClusterAccessError } from "./cluster/kubeconfig.js";
import { EXIT_OK, EXIT_USAGE, UsageError } from "./exit-status.js";
import { CONFIG_KINDS, configDumpOf, resourcesOf, type ConfigKind } from "./proxy/config-dump.js";
import { configTable } from "./proxy/config-tables.js";
import { isProxyOf, podNodeMatchers, resolvePod } from "./proxy/pod-argument.js";
import { meshProxies } from "./proxy/proxies.js";
import {
  XDS_ACCESS_OPTIONS,
  XDS_ACCESS_USAGE,
  xdsAccessOptions,
  type XdsAccessOptions,
} from "./proxy/xds-options.js";

const EXIT_FAILED = 1;

const USAGE = `Usage: skiff proxy-config <clusters|listeners|routes|endpoints|secrets|all> <pod>[.<namespace>]
                          [-n <namespace>] [-o table|json|yaml] [options]

Prints the configuration one proxy runs, as the xDS server it is connected to
reports it over CSDS: what the proxy ACKed (for a type awaiting its answer,
STALE in skiff proxy-status, what it was sent). A table by default; with
-o json or yaml, the full resources in Envoy's JSON form, shaped as the same
kind's entry in Envoy's admin /config_dump (dynamic_active_clusters, ...).
Secrets are the xDS server's (the trust bundle; a sidecar's workload
certificate comes from its skiff agent); private keys are never printed.

  -n, --namespace    the Pod's namespace (or give <pod>.<namespace>); default: default
  -o, --output       table (default), json or yaml
${XDS_ACCESS_USAGE}

Exit status: 0 printed; 1 no such proxy, a replica did not answer, or the
cluster could not be read; 2 a usage error.`;

export async function runProxyConfig(argv: string[]): Promise<number> {
  let kinds: readonly ConfigKind[];
  let output: "table" | "json" | "yaml";
  let options: XdsAccessOptions;
  let pod: ReturnType<typeof resolvePod>;
  try {
    const parsed = parse(argv);
    const values = parsed.values;
    if (values.help) {
      console.log(USAGE);
      return EXIT_OK;
    }
    const [kind, podArgument, ...extra] = parsed.positionals;
    if (!kind || !podArgument || extra.length > 0) throw new UsageError("give a kind and one Pod");
    if (kind !== "all" && !(CONFIG_KINDS as readonly string[]).includes(kind))
      throw new UsageError(`unknown kind ${kind}: one of ${CONFIG_KINDS.join(", ")}, all`);
    kinds = kind === "all" ? CONFIG_KINDS : [kind as ConfigKind];
    if (!["table", "json", "yaml"].includes(values.output))
      throw new UsageError("-o must be table, json or yaml");
    output = values.output as typeof output;
    pod = resolvePod(podArgument, values.namespace);
    options = await xdsAccessOptions(values, pod.namespace);
  } catch (error) {
    console.error(`skiff proxy-config: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const answer = await meshProxies(options, { nodeIds: podNodeMatchers(pod) });
    for (const problem of answer.problems) console.error(`skiff proxy-config: ${problem}`);
    const proxy = answer.proxies.find((candidate) => isProxyOf(candidate.config, pod));
    if (!proxy) {
      console.error(
        `skiff proxy-config: no proxy of the Pod ${pod.namespace}/${pod.name} is connected to the xDS servers asked`,
      );
      return EXIT_FAILED;
    }
    if (output === "table") {
      const sections = kinds.map((kind) => {
        const table = configTable(kind, resourcesOf(proxy.config, kind));
        return kinds.length > 1 ? `${kind.toUpperCase()}\n${table}` : table;
      });
      console.log(sections.join("\n\n"));
    } else {
      const dump = { configs: kinds.map((kind) => configDumpOf(kind, resourcesOf(proxy.config, kind))) };
      console.log(output === "json" ? JSON.stringify(dump, null, 2) : stringify(dump, { lineWidth: 0 }));
    }
    return answer.incomplete ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    if (error instanceof ClusterAccessError) {
      console.error(`skiff proxy-config: ${error.message}`);
      return EXIT_FAILED;
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
      output: { type: "string", short: "o", default: "table" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}
