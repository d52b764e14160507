#!/usr/bin/env node
import { runDev } from "./dev.js";
import { runIptables } from "./iptables.js";
import { runOperator } from "./operator.js";
import { runValidate } from "./validate.js";
import { runVersion } from "./version.js";
import { runXds } from "./xds.js";

const USAGE = `Usage: skiff <command> [options]

Commands:
  operator   run Skiff's controllers against a cluster
  xds        serve Envoy configuration to the mesh's proxies over ADS
  dev        run a local control plane with the operator, the xDS server, Skiff's CRDs and samples
  iptables   redirect the Pod's traffic through its Envoy sidecar (run by the skiff-init container)
  validate   check Skiff objects in YAML files against the API schema, offline
  version    print the version

Run 'skiff <command> --help' for a command's options.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  dev: runDev,
  iptables: runIptables,
  operator: runOperator,
  validate: runValidate,
  version: runVersion,
  xds: runXds,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    console.error(`skiff: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`skiff: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
