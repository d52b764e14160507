import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { IPod } from "kubernetes-models/v1";
import { loadKubeConfig } from "../k8s/kubeconfig.js";
import { apiPath, KubernetesApiError, RestClient } from "../k8s/rest.js";
import { podExecArgv, podNetworkNamespace } from "../localnode/exec.js";
import { containerUser } from "../localnode/local-node.js";

const USAGE =
  "Usage: skiff dev exec <namespace>/<pod> [-c container] [--kubeconfig PATH] -- <command> [args...]";

/**
 * `skiff dev exec`: runs a command in the network namespace of a Pod on the
 * local node of `skiff dev`, as the container's user, with the Pod's DNS.
 * Exit codes: the command's own, 2 for usage errors, 1 when the Pod cannot
 * be found.
 */
export async function runDevExec(argv: string[]): Promise<number> {
  const dashes = argv.indexOf("--");
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  const command = dashes === -1 ? [] : argv.slice(dashes + 1);
  let values: { container?: string; kubeconfig?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: own,
      allowPositionals: true,
      options: {
        container: { type: "string", short: "c" },
        kubeconfig: { type: "string", default: join(".skiff", "dev", "kubeconfig") },
      },
    }));
  } catch (error) {
    console.error(`skiff dev exec: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const target = /^([a-z0-9-]+)\/([a-z0-9.-]+)$/.exec(positionals[0] ?? "");
  if (!target || positionals.length !== 1 || command.length === 0) {
    console.error(USAGE);
    return 2;
  }
  const [, namespace, name] = target as unknown as [string, string, string];
  const rest = new RestClient(loadKubeConfig(values.kubeconfig));
  let pod: IPod;
  try {
    pod = await rest.request<IPod>("GET", apiPath`/api/v1/namespaces/${namespace}/pods/${name}`);
  } catch (error) {
    const reason =
      error instanceof KubernetesApiError && error.statusCode === 404
        ? "not found"
        : (error as Error).message;
    console.error(`skiff dev exec: pod ${namespace}/${name}: ${reason}`);
    return 1;
  }
  const netns = podNetworkNamespace(pod.metadata?.uid ?? "");
  if (!netns) {
    console.error(`skiff dev exec: pod ${namespace}/${name} does not run on a local node of this machine`);
    return 1;
  }
  let uid: number;
  try {
    uid = containerUser(pod, values.container);
  } catch (error) {
    console.error(`skiff dev exec: ${(error as Error).message}`);
    return 1;
  }
  const [file, ...args] = podExecArgv(netns, command, uid);
  const child = spawn(file!, args, { stdio: "inherit" });
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  return code ?? (signal ? 128 : 1);
}
