import type { KubernetesObject } from "@kubernetes/client-node";
import { parseArgs } from "node:util";
import { analyze } from "../analyze/analyze.js";
import type { Finding } from "../analyze/finding.js";
import { snapshotOf } from "../analyze/snapshot.js";
import { validateObject } from "../api/v1alpha1/validate.js";
import { readCluster } from "./analyze-cluster.js";
import { findingsJson, findingsText } from "./analyze-output.js";
import { ClusterAccessError, KUBECONFIG_OPTIONS, KUBECONFIG_USAGE } from "./cluster/kubeconfig.js";
import { UsageError } from "./exit-status.js";
import { MAX_INPUT_FILE_BYTES, readInputFiles } from "./input-files.js";

/** The exit statuses the issue asks for: by the worst finding, and 3 for input that cannot be analyzed. */
const EXIT_NO_FINDINGS = 0;
const EXIT_WARNINGS = 1;
const EXIT_ERRORS = 2;
const EXIT_BAD_INPUT = 3;

const USAGE = `Usage: skiff analyze [-n <namespace> | -A] [--kubeconfig <file>] [--context <name>] [-o text|json]
       skiff analyze -f <file|dir>... [-o text|json]

Finds problems in the mesh's configuration with the same engine as the
admission warnings and policy status: policies that select nothing or
reference what does not exist, conflicting and shadowed rules, STRICT mTLS
for workloads that sidecar-less Pods call, Pods without a sidecar in a
meshed namespace, Service ports that name no protocol, an ALLOW policy that
denies everything, a Mesh that is not Ready, sidecars injected with an older
configuration. Every code, with its fix: docs/analyze.md.

  -n, --namespace       the namespace to analyze (default: the context's)
  -A, --all-namespaces  analyze every namespace
${KUBECONFIG_USAGE}
  -f, --filename        analyze the objects in these YAML files or folders
                        (read recursively), offline, without a cluster; each
                        file UTF-8 YAML of at most ${MAX_INPUT_FILE_BYTES / 1024 / 1024} MiB
  -o, --output          text (default) or json

Over files, what the files do not show is not judged: a TrafficPolicy's
Service is looked for only when the files hold Services of its namespace.

Exit status: 0 no findings, 1 warnings only, 2 an error, 3 bad input (bad
options, unreadable or invalid files, a cluster that cannot be read).`;

export async function runAnalyze(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filename: { type: "string", short: "f", multiple: true },
        namespace: { type: "string", short: "n" },
        "all-namespaces": { type: "boolean", short: "A", default: false },
        ...KUBECONFIG_OPTIONS,
        output: { type: "string", short: "o", default: "text" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
    if (values.help) {
      console.log(USAGE);
      return EXIT_NO_FINDINGS;
    }
    if (values.output !== "json" && values.output !== "text") throw new UsageError("-o must be json or text");
    if (values.namespace !== undefined && values["all-namespaces"])
      throw new UsageError("-n and -A exclude each other");
    const clusterOptions = [
      values.namespace,
      values["all-namespaces"] || undefined,
      values.kubeconfig,
      values.context,
    ];
    if (values.filename && clusterOptions.some((v) => v !== undefined))
      throw new UsageError("-f reads files only: it takes none of -n, -A, --kubeconfig, --context");
  } catch (error) {
    console.error(`skiff analyze: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_BAD_INPUT;
  }

  let findings: Finding[];
  if (values.filename) {
    const objects = await objectsFromFiles(values.filename);
    if (objects === undefined) return EXIT_BAD_INPUT;
    findings = analyze(snapshotOf(objects, false));
  } else {
    try {
      const read = await readCluster(
        {
          ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
          ...(values.context ? { context: values.context } : {}),
        },
        {
          allNamespaces: values["all-namespaces"],
          ...(values.namespace ? { namespace: values.namespace } : {}),
        },
      );
      // Objects read from other namespaces (the root namespace's policies) inform; only the namespace's are reported.
      findings = analyze(snapshotOf(read.objects, true)).filter(
        (f) =>
          read.namespace === undefined ||
          f.object.namespace === undefined ||
          f.object.namespace === read.namespace,
      );
    } catch (error) {
      if (!(error instanceof ClusterAccessError)) throw error;
      console.error(`skiff analyze: ${error.message}`);
      return EXIT_BAD_INPUT;
    }
  }
  console.log(values.output === "json" ? findingsJson(findings) : findingsText(findings));
  if (findings.some((f) => f.severity === "error")) return EXIT_ERRORS;
  return findings.length > 0 ? EXIT_WARNINGS : EXIT_NO_FINDINGS;
}

/**
 * The objects of the files, or undefined when a file cannot be read or a
 * skiff.dev object fails its schema (the API server would refuse it, so it
 * is not configuration anything runs); every problem is printed.
 */
async function objectsFromFiles(paths: string[]): Promise<KubernetesObject[] | undefined> {
  const { objects, problems } = await readInputFiles(paths);
  const all = [...problems];
  for (const { file, object } of objects) {
    if (!object.apiVersion?.startsWith("skiff.dev/")) continue;
    const name = `${object.kind}/${object.metadata?.namespace ? object.metadata.namespace + "/" : ""}${object.metadata?.name}`;
    for (const issue of validateObject(object))
      all.push(`${file}: ${name}: ${issue.field}: ${issue.message}`);
  }
  for (const problem of all) console.error(`skiff analyze: ${problem}`);
  return all.length > 0 ? undefined : objects.map((o) => o.object);
}
