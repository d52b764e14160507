import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readManifests } from "../k8s/manifests.js";
import { BadInput, simulate, type SourcedObject } from "../policy/simulate.js";
import { text } from "./simulate-output.js";

const USAGE = `Usage: skiff simulate -f <file|dir>... (--from <ns>/<serviceaccount> | --from-ip <ip>) [--plaintext]
                      --to <service>.<namespace>:<port> [--method GET] [--path /x] [-H 'k: v']... [-o json|text]

Evaluates one request offline against the objects in the YAML files (folders
are read recursively): Services, Pods, TrafficPolicies, PeerAuthentications,
AuthorizationPolicies and the Mesh. It prints the route the request takes, the
mTLS mode of the destination port and the authorization decision; or, when a
redirect rule takes the request, the redirect the client's sidecar answers with.

  --from        the client's namespace and ServiceAccount; its identity is
                <trustDomain>/ns/<ns>/sa/<serviceaccount> when it uses mTLS
  --from-ip     the client's address; alone, a client outside the mesh, with
                no identity, that sends plaintext
  --plaintext   the client does not use mTLS; otherwise it does whenever the
                destination port accepts it, as mesh clients do
  --to          the Service and its port

Exit status: 0 allowed (or redirected), 3 denied, 2 bad input.`;

export async function runSimulate(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filename: { type: "string", short: "f", multiple: true },
        from: { type: "string" },
        "from-ip": { type: "string" },
        plaintext: { type: "boolean", default: false },
        to: { type: "string" },
        method: { type: "string", default: "GET" },
        path: { type: "string", default: "/" },
        header: { type: "string", short: "H", multiple: true },
        output: { type: "string", short: "o", default: "text" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    console.error(`skiff simulate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const usage = (problem: string) => {
    console.error(`skiff simulate: ${problem}\n\n${USAGE}`);
    return 2;
  };
  if (!values.filename?.length) return usage("-f is required");
  if (!values.to) return usage("--to is required");
  if (!values.from && !values["from-ip"]) return usage("--from or --from-ip is required");
  if (values.output !== "json" && values.output !== "text") return usage("-o must be json or text");

  try {
    const objects: SourcedObject[] = [];
    for (const path of values.filename) objects.push(...(await readObjects(path)));
    const outcome = simulate(objects, {
      ...(values.from ? { from: values.from } : {}),
      ...(values["from-ip"] ? { fromIp: values["from-ip"] } : {}),
      plaintext: values.plaintext,
      to: values.to,
      method: values.method,
      path: values.path,
      headers: values.header ?? [],
    });
    console.log(values.output === "json" ? JSON.stringify(outcome.result, null, 2) : text(outcome));
    // A redirect is an answer, not a denial.
    return outcome.result.authorization?.decision === "DENY" ? 3 : 0;
  } catch (error) {
    if (error instanceof BadInput) {
      console.error(`skiff simulate: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

/** Files kustomize reads as configuration, not as objects. */
const NOT_OBJECTS = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization"]);

/** Every object of a YAML file, or of the YAML files under a folder, recursively and in name order. */
async function readObjects(path: string): Promise<SourcedObject[]> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    throw new BadInput(`${path}: no such file or directory`);
  }
  if (isDirectory) {
    const entries = (await readdir(path, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    const objects: SourcedObject[] = [];
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) objects.push(...(await readObjects(child)));
      else if (/\.ya?ml$/.test(entry.name) && !NOT_OBJECTS.has(entry.name))
        objects.push(...(await readObjects(child)));
    }
    return objects;
  }
  try {
    return (await readManifests(path)).map((object) => ({ file: path, object }));
  } catch (error) {
    throw new BadInput(error instanceof Error ? error.message : String(error));
  }
}
