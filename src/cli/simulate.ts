import { parseArgs } from "node:util";
import { BadInput, simulate, type SimulateOptions } from "../simulate/simulate.js";
import { EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, UsageError } from "./exit-status.js";
import { MAX_INPUT_FILE_BYTES, readInputFiles } from "./input-files.js";
import { simulateRequest } from "./simulate-request.js";
import { text } from "./simulate-output.js";

/** The exit status of a request the authorization policies deny. */
const EXIT_DENIED = 3;

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

Each file must be UTF-8 YAML of at most ${MAX_INPUT_FILE_BYTES / 1024 / 1024} MiB holding Kubernetes objects.

Exit status: 0 allowed (or redirected), 3 denied, 1 invalid input (every bad
file and object is reported; or the Service or port is not in the files),
2 a usage error.`;

export async function runSimulate(argv: string[]): Promise<number> {
  let files: string[];
  let request: SimulateOptions;
  let output: "json" | "text";
  try {
    const { values } = parseArgs({
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
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT_OK;
    }
    if (!values.filename?.length) throw new UsageError("-f is required");
    if (values.output !== "json" && values.output !== "text") throw new UsageError("-o must be json or text");
    files = values.filename;
    output = values.output;
    request = simulateRequest(values);
  } catch (error) {
    console.error(`skiff simulate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  const { objects, problems } = await readInputFiles(files);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`skiff simulate: ${problem}`);
    return EXIT_INVALID_INPUT;
  }
  try {
    const outcome = simulate(objects, request);
    console.log(output === "json" ? JSON.stringify(outcome.result, null, 2) : text(outcome));
    // A redirect is an answer, not a denial.
    return outcome.result.authorization?.decision === "DENY" ? EXIT_DENIED : EXIT_OK;
  } catch (error) {
    if (error instanceof BadInput) {
      console.error(`skiff simulate: ${error.message}`);
      return EXIT_INVALID_INPUT;
    }
    throw error;
  }
}
