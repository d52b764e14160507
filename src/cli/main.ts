#!/usr/bin/env node
const USAGE = `Usage: skiff <command> [options]

Commands:
  operator      run Skiff's controllers against a cluster
  check         check that the cluster can take Skiff (--pre), or that Skiff is installed and working
  agent         keep a proxyless gRPC application's workload certificate on disk, and write its xDS bootstrap
  xds           serve Envoy configuration to the mesh's proxies over ADS
  dev           run a local control plane with the operator, the xDS server, Skiff's CRDs and samples
  iptables      redirect the Pod's traffic through its Envoy sidecar (run by the skiff-init container)
  validate      check Skiff objects in YAML files against the API schema, offline
  analyze       find problems in the mesh's configuration, in a cluster or in YAML files
  simulate      evaluate a request against routing, mTLS and authorization policies in YAML files, offline
  proxy-status  each proxy's xDS sync state across the xDS servers; with a Pod, what it runs against what it should
  proxy-config  the clusters, listeners, routes, endpoints or secrets a proxy runs, as the xDS server reports them
  version       print the version

Run 'skiff <command> --help' for a command's options.`;

/**
 * Each command is loaded only when it runs: `skiff operator` should not pay
 * for the xDS server's gRPC stack, nor `skiff iptables` in an init container
 * for any of it.
 */
type Command = (argv: string[]) => Promise<number>;
const COMMANDS: Record<string, () => Promise<Command>> = {
  agent: async () => (await import("./agent.js")).runAgent,
  analyze: async () => (await import("./analyze.js")).runAnalyze,
  check: async () => (await import("./check.js")).runCheck,
  dev: async () => (await import("./dev.js")).runDev,
  iptables: async () => (await import("./iptables.js")).runIptables,
  operator: async () => (await import("./operator.js")).runOperator,
  "proxy-config": async () => (await import("./proxy-config.js")).runProxyConfig,
  "proxy-status": async () => (await import("./proxy-status.js")).runProxyStatus,
  simulate: async () => (await import("./simulate.js")).runSimulate,
  validate: async () => (await import("./validate.js")).runValidate,
  version: async () => (await import("./version.js")).runVersion,
  xds: async () => (await import("./xds.js")).runXds,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command) {
    console.error(USAGE);
    return 2;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  const load = COMMANDS[command];
  if (!load) {
    console.error(`skiff: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`skiff: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
