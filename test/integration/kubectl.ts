import { spawn } from "node:child_process";
import { controlPlane } from "./controlplane.fixture.js";

export interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the control plane's kubectl against the shared control plane, as a user would. */
export function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  const plane = controlPlane();
  return new Promise((resolve, reject) => {
    const child = spawn(plane.binaries.kubectl, ["--kubeconfig", plane.kubeconfigPath, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/** Like kubectl, but fails with kubectl's own output when it exits non-zero. */
export async function kubectlOk(args: string[], input?: string): Promise<string> {
  const result = await kubectl(args, input);
  if (result.code !== 0)
    throw new Error(`kubectl ${args.join(" ")} exited ${result.code}:\n${result.stderr}`);
  return result.stdout;
}

/** Retries `fn` until it stops throwing, for state the API server publishes asynchronously. */
export async function eventually<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
