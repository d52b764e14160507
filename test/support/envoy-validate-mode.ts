import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sidecarArgs } from "../../src/inject/bootstrap.js";
import { envoyBinary } from "../../src/localnode/tools.js";

/** What the real Envoy said of a bootstrap in validate mode. */
export interface EnvoyVerdict {
  readonly ok: boolean;
  /** Envoy's own output, the reason when it refused. */
  readonly output: string;
}

/**
 * Runs `envoy --mode validate` on a bootstrap, with the sidecar's own
 * arguments (node id and cluster as the kubelet would expand them) plus what
 * many runs on 2 cores want: one worker, and a base id of its own so that it
 * never meets a running Envoy's shared memory. Validate mode builds every
 * listener, filter chain, route and cluster as a sidecar would, binds no port
 * and fetches nothing. Async, so that several run side by side.
 */
export async function envoyValidate(bootstrap: object): Promise<EnvoyVerdict> {
  const envoy = await envoyBinary();
  const dir = await mkdtemp(join(tmpdir(), "skiff-envoy-validate-"));
  try {
    const config = join(dir, "envoy.json");
    await writeFile(config, JSON.stringify(bootstrap));
    const { code, output } = await run(envoy, validateArgs(config), dir);
    return { ok: code === 0, output: output.trim() || `exit ${code}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function validateArgs(config: string): string[] {
  const args = sidecarArgs().map((a) =>
    a
      .replaceAll("$(POD_IP)", "10.1.2.3")
      .replaceAll("$(POD_NAME)", "web-1")
      .replaceAll("$(POD_NAMESPACE)", "demo"),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-c") {
      out.push(arg, config);
      i++;
    } else if (arg === "--concurrency" || arg === "--log-level" || arg === "-l") i++;
    else if (arg !== "--cpuset-threads") out.push(arg);
  }
  if (!out.includes(config)) throw new Error(`sidecarArgs() has no -c: ${args.join(" ")}`);
  return [
    ...out,
    "--concurrency",
    "1",
    "--mode",
    "validate",
    "--use-dynamic-base-id",
    "--log-level",
    "error",
  ];
}

function run(binary: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd, env: { ...process.env, TMPDIR: cwd } });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, output: signal ? `${output}\nkilled by ${signal}` : output });
    });
  });
}
