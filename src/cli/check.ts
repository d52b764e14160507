import { parseArgs } from "node:util";
import { durationMs } from "../api/duration.js";
import {
  ClusterAccessError,
  KUBECONFIG_OPTIONS,
  KUBECONFIG_USAGE,
  useKubeconfig,
} from "./cluster/kubeconfig.js";
import { DEFAULT_OPERATOR_NAMESPACE } from "./check/installation.js";
import { renderJson, renderText } from "./check/render.js";
import { anyFailed, type CheckGroup } from "./check/result.js";
import { untilPassedOr } from "./check/wait.js";
import { runChecks, type CheckOptions } from "./check/run.js";
import { EXIT_OK, EXIT_USAGE, UsageError } from "./exit-status.js";

const EXIT_FAILED = 1;

const USAGE = `Usage: skiff check [--pre] [--namespace skiff-system] [--wait 5m] [-o text|json] [--kubeconfig FILE] [--context NAME]

Checks that the cluster can take Skiff (--pre), or that Skiff is installed
and working: CRDs, the operator, the admission webhooks and their caBundle,
the Mesh, the xDS server and the mesh CA. Each check prints ✔, ‼ (a warning)
or ✘ with a hint; docs/check.md explains them all.

  --pre         check the cluster before installing Skiff: the Kubernetes
                version, the permissions the install needs, no conflicting CRDs
  --namespace   the operator's namespace (default ${DEFAULT_OPERATOR_NAMESPACE})
  --wait        retry failing checks until they pass or this long has passed
                (a duration such as 90s or 5m; default: check once)
  -o, --output  text (default) or json
${KUBECONFIG_USAGE}

Exit status: 0 when every check passed (warnings allowed), 1 when one failed
or the cluster could not be reached, 2 a usage error.`;

export async function runCheck(argv: string[]): Promise<number> {
  let options: CheckOptions;
  let waitMs: number;
  let output: string;
  let cluster: { kubeconfig?: string; context?: string };
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        ...KUBECONFIG_OPTIONS,
        pre: { type: "boolean", default: false },
        namespace: { type: "string", default: DEFAULT_OPERATOR_NAMESPACE },
        wait: { type: "string" },
        output: { type: "string", short: "o", default: "text" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT_OK;
    }
    if (values.output !== "text" && values.output !== "json") throw new UsageError("-o must be text or json");
    if (values.wait !== undefined && !/^([0-9]+(\.[0-9]+)?(h|ms|m|s))+$/.test(values.wait))
      throw new UsageError(`--wait takes a duration such as 90s or 5m, not '${values.wait}'`);
    options = { pre: values.pre, namespace: values.namespace, now: () => new Date() };
    waitMs = values.wait === undefined ? 0 : durationMs(values.wait);
    output = values.output;
    cluster = { kubeconfig: values.kubeconfig, context: values.context };
  } catch (error) {
    console.error(`skiff check: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  let groups: CheckGroup[];
  try {
    const kubeConfig = useKubeconfig(cluster);
    groups = await untilPassedOr(waitMs, () => runChecks(kubeConfig, options), {
      onRetry: (failing) =>
        console.error(`skiff check: waiting, ${failing.length} failing: ${failing.join("; ")}`),
    });
  } catch (error) {
    if (!(error instanceof ClusterAccessError)) throw error;
    console.error(`skiff check: ${error.message}`);
    return EXIT_FAILED;
  }
  console.log(output === "json" ? renderJson(groups) : renderText(groups));
  return anyFailed(groups) ? EXIT_FAILED : EXIT_OK;
}
