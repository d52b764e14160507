import { parseArgs } from "node:util";
import { validateObject } from "../api/v1alpha1/validate.js";
import { readManifests } from "../k8s/manifests.js";

const USAGE = `Usage: skiff validate -f <file|dir> [-f ...]

Checks every skiff.dev object in the files against the API schema, offline.
Other kinds are skipped. CEL rules (cross-field checks) need the API server:
use 'kubectl apply --dry-run=server' for those.`;

export async function runValidate(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: "string", short: "f", multiple: true },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help || !values.filename?.length) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  let checked = 0;
  let invalid = 0;
  for (const path of values.filename) {
    for (const obj of await readManifests(path)) {
      if (!obj.apiVersion?.startsWith("skiff.dev/")) continue;
      checked++;
      const name = `${obj.kind}/${obj.metadata?.namespace ? obj.metadata.namespace + "/" : ""}${obj.metadata?.name}`;
      const issues = validateObject(obj);
      if (issues.length === 0) continue;
      invalid++;
      for (const issue of issues) console.log(`${path}: ${name}: ${issue.field}: ${issue.message}`);
    }
  }
  console.log(`${checked - invalid} of ${checked} objects valid`);
  return invalid === 0 ? 0 : 1;
}
