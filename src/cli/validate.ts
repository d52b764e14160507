import { parseArgs } from "node:util";
import { validateObject } from "../api/v1alpha1/validate.js";
import { EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, UsageError } from "./exit-status.js";
import { MAX_INPUT_FILE_BYTES, readInputFiles } from "./input-files.js";

const USAGE = `Usage: skiff validate -f <file|dir> [-f ...]

Checks every skiff.dev object in the files against the API schema, offline.
Other kinds are skipped. CEL rules (cross-field checks) need the API server:
use 'kubectl apply --dry-run=server' for those.

Folders are read recursively (.yaml and .yml files). Each file must be UTF-8
YAML of at most ${MAX_INPUT_FILE_BYTES / 1024 / 1024} MiB holding Kubernetes objects (apiVersion and kind).

Exit status: 0 all valid, 1 an invalid object or a file that cannot be read
(every one is reported), 2 a usage error.`;

export async function runValidate(argv: string[]): Promise<number> {
  let filenames: string[];
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        filename: { type: "string", short: "f", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return EXIT_OK;
    }
    if (!values.filename?.length) throw new UsageError("-f is required");
    filenames = values.filename;
  } catch (error) {
    console.error(`skiff validate: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return EXIT_USAGE;
  }

  const { objects, problems } = await readInputFiles(filenames);
  for (const problem of problems) console.error(`skiff validate: ${problem}`);
  let checked = 0;
  let invalid = 0;
  for (const { file, object } of objects) {
    if (!object.apiVersion?.startsWith("skiff.dev/")) continue;
    checked++;
    const name = `${object.kind}/${object.metadata?.namespace ? object.metadata.namespace + "/" : ""}${object.metadata?.name}`;
    const issues = validateObject(object);
    if (issues.length === 0) continue;
    invalid++;
    for (const issue of issues) console.log(`${file}: ${name}: ${issue.field}: ${issue.message}`);
  }
  console.log(`${checked - invalid} of ${checked} objects valid`);
  return invalid === 0 && problems.length === 0 ? EXIT_OK : EXIT_INVALID_INPUT;
}
