import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import { delimiter, join } from "node:path";
import {
  DEFAULT_INTERCEPTION,
  renderIp6tablesRules,
  renderIptablesRules,
  type InterceptionOptions,
} from "../../../src/inject/iptables.js";

/**
 * The iptables rules, applied for real in fresh network namespaces
 * (`unshare --net`, so the host's rules are never touched). Needs root and
 * iptables (`apt-get install -y iptables`); skips only when iptables-restore
 * is missing.
 *
 * The traffic test runs this file a second time, as a child in its own
 * network namespace (the "Pod"), with PROBE_ENV set: see probe() below.
 */
const ROOT = join(import.meta.dirname, "..", "..", "..");
const DATA = join(ROOT, "test", "testdata", "iptables");
const PROBE_ENV = "SKIFF_IPTABLES_NETNS_PROBE";

/** The flags the traffic test passes to `skiff iptables`, and the options they mean. */
const CLI_ARGS = [
  "--exclude-inbound-ports",
  "9090",
  "--exclude-outbound-ports",
  "5432",
  "--exclude-outbound-cidrs",
  "10.20.0.0/16,fd20::/16",
];
const CLI_OPTIONS: InterceptionOptions = {
  ...DEFAULT_INTERCEPTION,
  excludeInboundPorts: [9090],
  excludeOutboundPorts: [5432],
  excludeOutboundCIDRs: ["10.20.0.0/16", "fd20::/16"],
};

/**
 * Who answers each connection. The Pod (10.10.0.2, fd10::2) and its peer
 * (10.10.0.1, fd10::1, plus the "remote" addresses 10.20.0.1, 10.30.0.1,
 * fd20::1, fd30::1) are joined by a veth pair. In the Pod, listeners on the
 * capture ports, the application port 8080, the excluded inbound port 9090
 * and the health port answer with their names; the peer answers "remote".
 */
function expectations(v6: boolean): Record<string, string> {
  const [pod, remote, excludedRemote, loopback, passthrough] = v6
    ? ["fd10::2", "fd30::1", "fd20::1", "::1", "::6"]
    : ["10.10.0.2", "10.30.0.1", "10.20.0.1", "127.0.0.1", "127.0.0.6"];
  const family = v6 ? "v6" : "v4";
  return {
    [`${family} app -> remote:80 is captured`]: `app ${remote} 80 -> outbound`,
    [`${family} app -> remote:5432 (excluded port)`]: `app ${remote} 5432 -> remote`,
    [`${family} app -> excluded range:80`]: `app ${excludedRemote} 80 -> remote`,
    [`${family} proxy -> remote:80 is not looped`]: `proxy ${remote} 80 -> remote`,
    [`${family} app -> loopback:8080`]: `app ${loopback} 8080 -> app`,
    [`${family} app -> own pod IP:8080`]: `app ${pod} 8080 -> app`,
    [`${family} proxy -> own pod IP:8080 goes through inbound`]: `proxy ${pod} 8080 -> inbound`,
    [`${family} proxy from passthrough source -> own pod IP:8080`]: `proxy ${pod} 8080 ${passthrough} -> app`,
    [`${family} proxy -> loopback:8080`]: `proxy ${loopback} 8080 -> app`,
    [`${family} peer -> pod:8080 is captured`]: `peer ${pod} 8080 -> inbound`,
    [`${family} peer -> pod:9090 (excluded inbound)`]: `peer ${pod} 9090 -> app-excluded`,
    [`${family} peer -> pod:15021 (health)`]: `peer ${pod} 15021 -> health`,
    // The kubelet's rewritten probes reach the agent in plaintext, even under STRICT.
    [`${family} peer -> pod:15020 (agent health)`]: `peer ${pod} 15020 -> agent-health`,
  };
}

function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return join(dir, tool);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The lines that say what a nat table holds: chain declarations of our chains, and rules. */
function ruleLines(text: string): string[] {
  return text.split("\n").filter((l) => l.startsWith("-A ") || l.startsWith(":SKIFF"));
}

// --- the probe, run as root inside the Pod's network namespace -----------------

const SERVER = `
const net = require("node:net");
const [name, ...ports] = process.argv.slice(1);
let pending = ports.length;
for (const port of ports)
  net.createServer((s) => s.end(name)).listen({ port: Number(port), host: "::" }, () => {
    if (--pending === 0) console.log("ready");
  });
`;

const CLIENT = `
const net = require("node:net");
const [host, port, localAddress] = process.argv.slice(1);
const done = (text) => { console.log(text); process.exit(0); };
const s = net.connect({ host, port: Number(port), ...(localAddress ? { localAddress } : {}) });
let data = "";
s.setEncoding("utf8");
s.on("data", (d) => (data += d));
s.on("end", () => done(data));
s.on("error", (e) => done("error:" + e.code));
setTimeout(() => done("timeout"), 3000);
`;

async function probe(): Promise<void> {
  const sh = (command: string) => execFileSync("sh", ["-ec", command], { encoding: "utf8" });
  const children: number[] = [];
  try {
    sh(`
      ip link set lo up
      ip link add skiff0 type veth peer name skiff1
      ip addr add 10.10.0.2/24 dev skiff0
      ip -6 addr add fd10::2/64 dev skiff0 nodad
      ip link set skiff0 up
    `);

    // The peer: a second network namespace, held open by a sleep that dies with us.
    const holder = spawn("setpriv", ["--pdeathsig", "KILL", "--", "unshare", "--net", "sleep", "600"], {
      stdio: "ignore",
    });
    const pid = holder.pid!;
    children.push(pid);
    const ours = readlinkSync("/proc/self/ns/net");
    for (let i = 0; ; i++) {
      try {
        if (readlinkSync(`/proc/${pid}/ns/net`) !== ours) break;
      } catch {
        // not started yet
      }
      if (i > 500) throw new Error("the peer namespace did not appear");
      await new Promise((r) => setTimeout(r, 10));
    }
    sh(`ip link set skiff1 netns ${pid}`);
    sh(`nsenter -t ${pid} -n sh -ec '
      ip link set lo up
      ip addr add 10.10.0.1/24 dev skiff1
      ip addr add 10.20.0.1/32 dev skiff1
      ip addr add 10.30.0.1/32 dev skiff1
      ip -6 addr add fd10::1/64 dev skiff1 nodad
      ip -6 addr add fd20::1/128 dev skiff1 nodad
      ip -6 addr add fd30::1/128 dev skiff1 nodad
      ip link set skiff1 up
    '`);
    sh(`
      ip route add default via 10.10.0.1
      ip -6 route add default via fd10::1
    `);

    const remote = spawn(
      "setpriv",
      [
        "--pdeathsig",
        "KILL",
        "--",
        "nsenter",
        "-t",
        String(pid),
        "-n",
        process.execPath,
        "-e",
        SERVER,
        "remote",
        "80",
        "5432",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(remote.pid!);
    await new Promise<void>((resolve, reject) => {
      remote.stdout.setEncoding("utf8").on("data", (d: string) => d.includes("ready") && resolve());
      remote.on("exit", (code) => reject(new Error(`the remote server exited (${code})`)));
    });

    const listeners: [string, number][] = [
      ["outbound", 15001],
      ["inbound", 15006],
      ["app", 8080],
      ["app-excluded", 9090],
      ["health", 15021],
      ["agent-health", 15020],
    ];
    const servers = await Promise.all(
      listeners.map(
        ([name, port]) =>
          new Promise<net.Server>((resolve) => {
            const server = net.createServer((s) => s.end(name));
            server.listen({ port, host: "::" }, () => resolve(server));
          }),
      ),
    );

    const cli = spawnSync(
      process.execPath,
      ["--import", "tsx", join(ROOT, "src", "cli", "main.ts"), "iptables", ...CLI_ARGS],
      { cwd: ROOT, encoding: "utf8" },
    );
    if (cli.status !== 0) throw new Error(`skiff iptables failed: ${cli.stdout}${cli.stderr}`);

    const connect = (from: string, host: string, port: string, local?: string) =>
      new Promise<string>((resolve) => {
        const args = ["-e", CLIENT, host, port, ...(local ? [local] : [])];
        const child =
          from === "peer"
            ? spawn("nsenter", ["-t", String(pid), "-n", process.execPath, ...args])
            : spawn(process.execPath, args, from === "proxy" ? { uid: 1337, gid: 1337 } : {});
        let out = "";
        child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.on("close", () => resolve(out.trim()));
      });

    const cases = { ...expectations(false), ...expectations(true) };
    const results: Record<string, string> = {};
    await Promise.all(
      Object.entries(cases).map(async ([label, expected]) => {
        const [from, host, port, local] = expected.split(" -> ")[0]!.split(" ");
        const answer = await connect(from!, host!, port!, local);
        results[label] = `${expected.split(" -> ")[0]} -> ${answer}`;
      }),
    );
    for (const server of servers) server.close();

    const sorted = Object.fromEntries(Object.keys(cases).map((k) => [k, results[k]!]));
    const saved = { v4: sh("iptables-save -t nat"), v6: sh("ip6tables-save -t nat") };
    console.log(JSON.stringify({ results: sorted, saved, cli: cli.stderr }));
  } finally {
    for (const pid of children) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  process.exit(0);
}

// After the constants above: the probe uses them at once.
if (process.env[PROBE_ENV]) {
  await probe();
} else {
  describe("iptables rules applied in fresh network namespaces", function () {
    this.timeout(120_000);

    before(function () {
      if (!which("iptables-restore")) {
        console.log("      skipped: iptables-restore is not installed (apt-get install -y iptables)");
        this.skip();
      }
    });

    it("every golden file applies, and iptables-save reads back exactly its rules", () => {
      const files = readdirSync(DATA)
        .filter((f) => f.endsWith(".rules"))
        .sort();
      assert.ok(files.length >= 6, files.join(" "));
      for (const file of files) {
        const [restore, save] = file.endsWith(".v6.rules")
          ? ["ip6tables-restore", "ip6tables-save"]
          : ["iptables-restore", "iptables-save"];
        const rules = readFileSync(join(DATA, file), "utf8");
        const result = spawnSync("unshare", ["--net", "sh", "-c", `${restore} --noflush && ${save} -t nat`], {
          input: rules,
          encoding: "utf8",
        });
        assert.equal(result.status, 0, `${file}: ${result.error ?? ""} ${result.stderr}`);
        assert.deepEqual(ruleLines(result.stdout), ruleLines(rules), file);
      }
    });

    it("skiff iptables sends each connection where the rules say (Pod and peer joined by a veth pair)", () => {
      const result = spawnSync(
        "unshare",
        ["--net", process.execPath, "--import", "tsx", import.meta.filename],
        {
          cwd: ROOT,
          env: { ...process.env, [PROBE_ENV]: "1" },
          encoding: "utf8",
          timeout: 100_000,
          killSignal: "SIGKILL",
        },
      );
      const last = result.stdout.trim().split("\n").at(-1) ?? "";
      assert.equal(
        result.status,
        0,
        `probe failed: ${result.error ?? ""}\n${result.stdout}\n${result.stderr}`,
      );
      const report = JSON.parse(last) as {
        results: Record<string, string>;
        saved: { v4: string; v6: string };
        cli: string;
      };
      assert.deepEqual(report.results, { ...expectations(false), ...expectations(true) });
      assert.deepEqual(ruleLines(report.saved.v4), ruleLines(renderIptablesRules(CLI_OPTIONS)));
      assert.deepEqual(ruleLines(report.saved.v6), ruleLines(renderIp6tablesRules(CLI_OPTIONS)));
      assert.match(report.cli, /IPv4 rules applied/);
      assert.match(report.cli, /IPv6 rules applied/);
      assert.doesNotMatch(report.cli, /note|warning/);
    });

    it("an IPv4-only Pod gets its IPv4 rules where ip6tables-restore is missing, with a note", () => {
      const bin = mkdtempSync(join(tmpdir(), "skiff-v4only-"));
      try {
        symlinkSync(which("iptables-restore")!, join(bin, "iptables-restore"));
        const cli = [process.execPath, "--import", "tsx", join(ROOT, "src", "cli", "main.ts"), "iptables"];
        const result = spawnSync(
          "unshare",
          ["--net", "sh", "-c", `PATH=${bin} "$@" && ${which("iptables-save")} -t nat`, "sh", ...cli],
          { cwd: ROOT, encoding: "utf8" },
        );
        assert.equal(result.status, 0, result.stderr);
        assert.match(result.stderr, /IPv4 rules applied/);
        assert.match(
          result.stderr,
          /note: IPv6 rules not applied \(the Pod has no IPv6 address\): ip6tables-restore not found in PATH/,
        );
        assert.deepEqual(ruleLines(result.stdout), ruleLines(renderIptablesRules(DEFAULT_INTERCEPTION)));
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
    });
  });
}
