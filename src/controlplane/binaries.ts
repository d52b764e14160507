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
  /** Present only when asked for (`findBinaries`' `include`). */
  kubeControllerManager?: string;
  /** Present only when asked for (`findBinaries`' `include`). */
  kubeProxy?: string;
}

/** Binaries that only some uses need, looked up only when asked for. */
export type OptionalBinary = "kube-controller-manager" | "kube-proxy";

type BinaryName = "kube-apiserver" | "etcd" | "kubectl" | OptionalBinary;

const OVERRIDE_ENV: Record<BinaryName, string> = {
  "kube-apiserver": "TEST_ASSET_KUBE_APISERVER",
  etcd: "TEST_ASSET_ETCD",
  kubectl: "TEST_ASSET_KUBECTL",
  "kube-controller-manager": "TEST_ASSET_KUBE_CONTROLLER_MANAGER",
  "kube-proxy": "TEST_ASSET_KUBE_PROXY",
};

const FIELD: Record<OptionalBinary, "kubeControllerManager" | "kubeProxy"> = {
  "kube-controller-manager": "kubeControllerManager",
  "kube-proxy": "kubeProxy",
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
 * Finds kube-apiserver, etcd and kubectl (and, when `include` names them,
 * kube-controller-manager and kube-proxy) the way envtest does, highest
 * precedence first:
 * 1. TEST_ASSET_KUBE_APISERVER, TEST_ASSET_ETCD, TEST_ASSET_KUBECTL,
 *    TEST_ASSET_KUBE_CONTROLLER_MANAGER, TEST_ASSET_KUBE_PROXY;
 * 2. $KUBEBUILDER_ASSETS/<name>;
 * 3. the cache under ~/.cache/skiff/controlplane, keyed by version;
 * 4. for kubectl only, the PATH;
 * 5. otherwise hack/controlplane/build.sh builds them from the Go module proxy
 *    into that cache (several minutes the first time; progress on stderr).
 *
 * A KUBEBUILDER_ASSETS folder that lacks a binary this call needs is an
 * error, not a reason to build: the folder says "use these", and a build
 * would mix versions. That applies to kube-controller-manager and kube-proxy
 * only when `include` asks for them, because setup-envtest's folders never
 * have them; TEST_ASSET_* can add them to such a folder.
 */
export async function findBinaries(
  options: { build?: boolean; showProgress?: boolean; include?: readonly OptionalBinary[] } = {},
): Promise<ControlPlaneBinaries> {
  const { build = true, showProgress = true, include = [] } = options;
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
      if (name !== "kubectl")
        throw new Error(
          `KUBEBUILDER_ASSETS=${assets} has no executable ${name}` +
            (name in FIELD ? ` (add it there, or name it with ${OVERRIDE_ENV[name]})` : ""),
        );
    }
    const cached = join(cacheDir, name);
    if (await isExecutable(cached)) return cached;
    if (name === "kubectl") return onPath("kubectl");
    return undefined;
  }

  const names: BinaryName[] = ["kube-apiserver", "etcd", "kubectl", ...new Set(include)];
  const found = await Promise.all(names.map(find));
  if (found.some((path) => path === undefined)) {
    if (!build)
      throw new Error(
        "control-plane binaries are not built; run hack/controlplane/build.sh or set KUBEBUILDER_ASSETS " +
          `(missing: ${names.filter((_, i) => !found[i]).join(", ")})`,
      );
    const built = await runBuildScript([], showProgress);
    names.forEach((name, i) => (found[i] ??= join(built, name)));
  }
  const path = (name: BinaryName) => found[names.indexOf(name)]!;
  const binaries: ControlPlaneBinaries = {
    kubeApiserver: path("kube-apiserver"),
    etcd: path("etcd"),
    kubectl: path("kubectl"),
  };
  for (const name of include) binaries[FIELD[name]] = path(name);
  return binaries;
}
