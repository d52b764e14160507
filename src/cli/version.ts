import { skiffVersion } from "./image.js";

export async function runVersion(): Promise<number> {
  console.log(`skiff ${await skiffVersion()}`);
  return 0;
}
