import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { runHackScript } from "../controlplane/binaries.js";

/**
 * The data-plane programs that Skiff's local node and tests run: Envoy (the
 * sidecar), fortio (load generator and echo peer) and CoreDNS (cluster DNS).
 * Each has a script under hack/ that fetches or builds one pinned version into
 * ~/.cache/skiff/<tool>/ and prints the binary's path.
 */
export type Tool = "envoy" | "fortio" | "coredns";

const TOOLS: Record<Tool, { env: string; script: string }> = {
  envoy: { env: "SKIFF_ENVOY", script: "fetch.sh" },
  fortio: { env: "SKIFF_FORTIO", script: "build.sh" },
  coredns: { env: "SKIFF_COREDNS", script: "build.sh" },
};

/** How {@link toolBinary} may get a tool that is not cached yet. */
export interface ToolOptions {
  /** Run the tool's script when the binary is not cached (default true); false throws instead. */
  build?: boolean;
  /** Pass the script's progress through to stderr (default true). */
  showProgress?: boolean;
}

/** Why `path` cannot be run, or undefined when it is an executable regular file. */
async function notExecutable(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return "does not exist";
  // access(X_OK) alone would accept a directory: its x bit means "searchable".
  if (!info.isFile()) return "is not a regular file";
  return access(path, constants.X_OK).then(
    () => undefined,
    () => "is not executable",
  );
}

// One script run per tool at a time: callers that start together (parallel
// test suites, say) share it instead of each building the same binary.
const running = new Map<Tool, Promise<string>>();

function runScript(tool: Tool, showProgress: boolean): Promise<string> {
  let run = running.get(tool);
  if (!run) {
    run = runHackScript(tool, TOOLS[tool].script, [], showProgress).finally(() => running.delete(tool));
    running.set(tool, run);
  }
  return run;
}

/**
 * The path the tool's script caches its binary at, whether or not it is
 * there yet (the script's `--print`; it fetches and builds nothing).
 */
export async function toolCachePath(tool: Tool): Promise<string> {
  return resolve(await runHackScript(tool, TOOLS[tool].script, ["--print"], false));
}

/**
 * Finds a data-plane tool's binary and returns its absolute path. Highest
 * precedence first:
 * 1. the environment override (SKIFF_ENVOY, SKIFF_FORTIO, SKIFF_COREDNS), a
 *    path to an executable file; an override that is not one throws, naming
 *    the variable, rather than fall back to another binary;
 * 2. the cached binary at {@link toolCachePath}, if it is executable;
 * 3. otherwise the tool's script under hack/ fetches or builds it into that
 *    cache (seconds for Envoy, minutes for CoreDNS; progress on stderr), unless
 *    `options.build` is false, which throws instead.
 */
export async function toolBinary(tool: Tool, options: ToolOptions = {}): Promise<string> {
  const { build = true, showProgress = true } = options;
  const { env, script } = TOOLS[tool];
  const override = process.env[env];
  if (override) {
    const path = resolve(override);
    const problem = await notExecutable(path);
    if (problem) throw new Error(`${env}=${override} ${problem}; it must name the ${tool} binary to run`);
    return path;
  }
  const cached = await toolCachePath(tool);
  if (!(await notExecutable(cached))) return cached;
  if (!build)
    throw new Error(`${tool} is not in the cache (${cached}); run hack/${tool}/${script} or set ${env}`);
  const built = resolve(await runScript(tool, showProgress));
  const problem = await notExecutable(built);
  if (problem) throw new Error(`hack/${tool}/${script} printed ${built}, which ${problem}`);
  return built;
}

/** The Envoy binary (hack/envoy/fetch.sh, or SKIFF_ENVOY); see {@link toolBinary}. */
export function envoyBinary(options?: ToolOptions): Promise<string> {
  return toolBinary("envoy", options);
}

/** The fortio binary (hack/fortio/build.sh, or SKIFF_FORTIO); see {@link toolBinary}. */
export function fortioBinary(options?: ToolOptions): Promise<string> {
  return toolBinary("fortio", options);
}

/** The CoreDNS binary (hack/coredns/build.sh, or SKIFF_COREDNS); see {@link toolBinary}. */
export function corednsBinary(options?: ToolOptions): Promise<string> {
  return toolBinary("coredns", options);
}
