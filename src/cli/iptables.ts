import { spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { parseArgs } from "node:util";
import { parseCidrList, parsePortList } from "../inject/interception.js";
import {
  DEFAULT_INTERCEPTION,
  renderIp6tablesRules,
  renderIptablesRules,
  type InterceptionOptions,
} from "../inject/iptables.js";
import { INBOUND_PASSTHROUGH_SOURCE } from "../mesh/proxy.js";

const USAGE = `Usage: skiff iptables [options]

Sets up the iptables rules (nat table) that send the Pod's TCP traffic through
its Envoy sidecar. Run by the skiff-init container, as root with NET_ADMIN, in
the Pod's network namespace. The rules go to 'iptables-restore --noflush' and
'ip6tables-restore --noflush'; then ::6, the source of Envoy's IPv6 inbound
passthrough connections, goes on lo ('ip', from iproute2). IPv6 failures are
errors when the Pod has an IPv6 address, and notes otherwise.

Options:
  --dry-run                       print the rules instead of applying them
  --proxy-uid <uid>               the uid Envoy runs as; its traffic is not captured (default ${DEFAULT_INTERCEPTION.proxyUid})
  --inbound-port <port>           where inbound connections are redirected (default ${DEFAULT_INTERCEPTION.inboundCapturePort})
  --outbound-port <port>          where outbound connections are redirected (default ${DEFAULT_INTERCEPTION.outboundCapturePort})
  --exclude-inbound-ports <list>  inbound ports that bypass the sidecar, such as 8080,9090
  --exclude-outbound-ports <list> outbound destination ports that bypass the sidecar
  --exclude-outbound-cidrs <list> outbound destination ranges that bypass the sidecar, IPv4 or IPv6`;

export async function runIptables(argv: string[]): Promise<number> {
  let options: InterceptionOptions;
  let dryRun: boolean;
  let v4: string;
  let v6: string;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        "dry-run": { type: "boolean", default: false },
        "proxy-uid": { type: "string" },
        "inbound-port": { type: "string" },
        "outbound-port": { type: "string" },
        "exclude-inbound-ports": { type: "string", default: "" },
        "exclude-outbound-ports": { type: "string", default: "" },
        "exclude-outbound-cidrs": { type: "string", default: "" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    dryRun = values["dry-run"];
    options = {
      proxyUid: integerFlag("--proxy-uid", values["proxy-uid"], DEFAULT_INTERCEPTION.proxyUid),
      inboundCapturePort: portFlag(
        "--inbound-port",
        values["inbound-port"],
        DEFAULT_INTERCEPTION.inboundCapturePort,
      ),
      outboundCapturePort: portFlag(
        "--outbound-port",
        values["outbound-port"],
        DEFAULT_INTERCEPTION.outboundCapturePort,
      ),
      excludeInboundPorts: parsePortList(values["exclude-inbound-ports"], "--exclude-inbound-ports"),
      excludeOutboundPorts: parsePortList(values["exclude-outbound-ports"], "--exclude-outbound-ports"),
      excludeOutboundCIDRs: parseCidrList(values["exclude-outbound-cidrs"], "--exclude-outbound-cidrs"),
    };
    v4 = renderIptablesRules(options);
    v6 = renderIp6tablesRules(options);
  } catch (error) {
    console.error(`skiff iptables: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }

  if (dryRun) {
    process.stdout.write(v4 + v6);
    return 0;
  }

  const v4Failure = await restore("iptables-restore", v4);
  if (v4Failure) {
    console.error(`skiff iptables: ${v4Failure}`);
    return 1;
  }
  console.error("skiff iptables: IPv4 rules applied");

  // IPv6 must be captured when the Pod has an IPv6 address. Without one, the
  // rules are applied where the node allows (a later address stays covered)
  // and a failure is only a note: IPv4-only nodes often lack ip6table_nat.
  const podV6 = podHasIpv6Address();
  const fail = (message: string) => {
    console.error(`skiff iptables: ${podV6 ? "" : "note: "}${message}`);
    return podV6 ? 1 : 0;
  };
  const v6Failure = await restore("ip6tables-restore", v6);
  if (v6Failure)
    return fail(`IPv6 rules not applied${podV6 ? "" : " (the Pod has no IPv6 address)"}: ${v6Failure}`);
  console.error("skiff iptables: IPv6 rules applied");
  // Envoy binds its IPv6 inbound passthrough connections to ::6, which, unlike
  // 127.0.0.6, is not a local address until it is put on lo (as Istio does).
  const passthrough = INBOUND_PASSTHROUGH_SOURCE.ipv6;
  const ipFailure = await run("ip", ["-6", "addr", "replace", `${passthrough}/128`, "dev", "lo"]);
  if (ipFailure)
    return fail(
      `${passthrough} not added to lo, which inbound connections to undeclared ports need: ${ipFailure}`,
    );
  return 0;
}

/** Whether an interface other than lo has a global-scope IPv6 address (/proc/net/if_inet6, scope 00). */
function podHasIpv6Address(): boolean {
  let table: string;
  try {
    table = readFileSync("/proc/net/if_inet6", "utf8");
  } catch {
    return false; // no IPv6 in this kernel
  }
  return table
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .some((fields) => fields.length >= 6 && fields[3] === "00" && fields[5] !== "lo");
}

/** Pipes rules into `<tool> --noflush`. Returns a message on failure, undefined on success. */
function restore(tool: string, rules: string): Promise<string | undefined> {
  return run(tool, ["--noflush"], rules);
}

/** Runs a tool, with input on stdin. Returns a message on failure, undefined on success. */
async function run(tool: string, args: string[], input = ""): Promise<string | undefined> {
  if (findInPath(tool) === undefined)
    return `${tool} not found in PATH; the skiff-init image needs the ${tool === "ip" ? "iproute2" : "iptables"} package`;
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ["pipe", "inherit", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", (error) => resolve(`${tool}: ${error.message}`));
    child.on("close", (code, signal) => {
      if (code === 0) resolve(undefined);
      else
        resolve(
          `${[tool, ...args].join(" ")} failed (${signal ? `signal ${signal}` : `exit code ${code}`})` +
            (stderr.trim() ? `: ${stderr.trim()}` : ""),
        );
    });
    // A tool that exits early closes its stdin; the close handler reports it.
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

function findInPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function integerFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]+$/.test(value)) throw new Error(`${flag}: "${value}" is not a non-negative integer`);
  return Number(value);
}

function portFlag(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const [port] = parsePortList(value, flag);
  if (port === undefined || value.includes(",")) throw new Error(`${flag}: "${value}" is not a port number`);
  return port;
}
