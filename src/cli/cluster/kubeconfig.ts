import { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** The options every command that reads the user's cluster takes, as kubectl has them (for node:util parseArgs). */
export const KUBECONFIG_OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
} as const;

export const KUBECONFIG_USAGE = `  --kubeconfig  the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
  --context     the kubeconfig context to use (default: its current context)`;

/** A problem reaching or reading the cluster, said in one line (the commands print it without a stack trace). */
export class ClusterAccessError extends Error {}

export interface KubeconfigChoice {
  readonly kubeconfig?: string;
  readonly context?: string;
}

/**
 * Chooses the kubeconfig and context for this process, as kubectl does, and
 * returns it loaded.
 *
 * kubernetes-fluent-client reads the default kubeconfig on every request
 * (`$KUBECONFIG`, else `~/.kube/config`) and has no way to be handed one, so
 * the choice is made through `$KUBECONFIG`: `--kubeconfig` replaces it, and
 * `--context` appends a file of our own that sets only `current-context`.
 * Later files' current-context wins when kubeconfigs merge (client-node's
 * loadFromDefault, as in kubectl), and that file holds no credentials.
 */
export function useKubeconfig(choice: KubeconfigChoice): KubeConfig {
  const files = choice.kubeconfig ? [choice.kubeconfig] : defaultKubeconfigFiles();
  if (choice.context !== undefined) files.push(contextOverrideFile(choice.context));
  process.env.KUBECONFIG = files.join(delimiter);
  const config = new KubeConfig();
  try {
    config.loadFromDefault();
  } catch (error) {
    throw new ClusterAccessError(`cannot read the kubeconfig ${files[0]}: ${oneLine(error)}`);
  }
  const context = config.getCurrentContext();
  if (!context)
    throw new ClusterAccessError(`the kubeconfig ${files[0]} names no current context; pass --context`);
  if (!config.getContextObject(context))
    throw new ClusterAccessError(`context "${context}" is not in the kubeconfig ${files[0]}`);
  if (!config.getCurrentCluster())
    throw new ClusterAccessError(`context "${context}" names a cluster that is not in the kubeconfig`);
  return config;
}

function defaultKubeconfigFiles(): string[] {
  const fromEnvironment = (process.env.KUBECONFIG ?? "").split(delimiter).filter((file) => file);
  return fromEnvironment.length > 0 ? fromEnvironment : [join(homedir(), ".kube", "config")];
}

let overrideDirectory: string | undefined;

/** A kubeconfig that only sets the current context, removed when the process exits. */
function contextOverrideFile(context: string): string {
  if (!overrideDirectory) {
    const directory = mkdtempSync(join(tmpdir(), "skiff-context-"));
    overrideDirectory = directory;
    process.on("exit", () => rmSync(directory, { recursive: true, force: true }));
  }
  const file = join(overrideDirectory, "context.yaml");
  writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "Config", "current-context": context }), {
    mode: 0o600,
  });
  return file;
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
