import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Where the control-plane binaries are. */
export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
}

type BinaryName = "kube-apiserver" | "etcd" | "kubectl";

const OVERRIDE_ENV: Record<BinaryName, string> = {
  "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
  etcd: "TEST_ASSET_ETCD",
  kubectl: "TEST_ASSET_KUBECTL",
};

/** The repository root: the nearest parent holding hack/controlplane (works from src/ and from dist/src/). */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "hack", "controlplane", "build.sh"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("cannot find hack/controlplane/build.sh above " + import.meta.url);
    dir = parent;
  }
  return dir;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}

/**
 * Runs hack/<tool>/<script> with `args` and resolves with the last line it
 * printed on stdout: these scripts print the path they built or fetched there
 * and their progress on stderr. With `showProgress` that stderr is ours;
 * otherwise it is kept and quoted in the error when the script fails.
 */
export function runHackScript(
  tool: string,
  scriptName: string,
  args: string[],
  showProgress: boolean,
): Promise<string> {
  const script = join(repositoryRoot(), "hack", tool, scriptName);
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], {
      stdio: ["ignore", "pipe", showProgress ? "inherit" : "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0
        ? resolve(out.trim().split("\n").pop() ?? "")
        : reject(new Error(`${script} ${args.join(" ")} exited with ${code}\n${err}`)),
    );
  });
}

function runBuildScript(args: string[], showProgress: boolean): Promise<string> {
  return runHackScript("controlplane", "build.sh", args, showProgress);
}

/**
 * Finds kube-apiserver, etcd and kubectl the way envtest does, highest
 * precedence first:
 * 1. TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD, TEST_ASSET_KUBECTL;
 * 2. $KUBEBUILDER_ASSETS/<name>;
 * 3. the cache under ~/.cache/skiff/controlplane, keyed by version;
 * 4. for kubectl only, the PATH;
 * 5. otherwise hack/controlplane/build.sh builds them from the Go module proxy
 *    into that cache (several minutes the first time; progress on stderr).
 */
export async function findBinaries(
  options: { build?: boolean; showProgress?: boolean } = {},
): Promise<ControlPlaneBinaries> {
  const { build = true, showProgress = true } = options;
  const assets = process.env.KUBEBUILDER_ASSETS;
  const cacheDir = await runBuildScript(["--print"], false);

  async function find(name: BinaryName): Promise<string | undefined> {
    const override = process.env[OVERRIDE_ENV[name]];
    if (override) {
      if (!(await isExecutable(override)))
        throw new Error(`${OVERRIDE_ENV[name]}=${override} is not an executable file`);
      return override;
    }
    if (assets) {
      const candidate = join(assets, name);
      if (await isExecutable(candidate)) return candidate;
      // An explicit assets folder that lacks a server binary is a setup mistake: say so rather than build.
      if (name !== "kubectl") throw new Error(`KUBEBUILDER_ASSETS=${assets} has no executable ${name}`);
    }
    const cached = join(cacheDir, name);
    if (await isExecutable(cached)) return cached;
    if (name === "kubectl") return onPath("kubectl");
    return undefined;
  }

  let [kubeApiserver, etcd, kubectl] = await Promise.all([
    find("kube-apiserver"),
    find("etcd"),
    find("kubectl"),
  ]);
  if (!kubeApiserver || !etcd || !kubectl) {
    if (!build)
      throw new Error(
        "control-plane binaries are not built; run hack/controlplane/build.sh or set KUBEBUILDER_ASSETS",
      );
    const built = await runBuildScript([], showProgress);
    kubeApiserver ??= join(built, "kube-apiserver");
    etcd ??= join(built, "etcd");
    kubectl ??= join(built, "kubectl");
  }
  return { kubeApiserver, etcd, kubectl };
}
