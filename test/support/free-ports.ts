import { createServer } from "node:net";

/**
 * `count` port numbers that are free on every one of `addresses`, found by
 * binding each, from a base this process picks (so that parallel runs rarely
 * probe the same ones). Below the usual ephemeral range, so that no
 * client's own source port takes one meanwhile.
 */
export async function portsFreeOn(addresses: readonly string[], count: number): Promise<number[]> {
  const ports: number[] = [];
  const base = 20000 + ((process.pid * 7919) % 8000);
  for (let port = base; ports.length < count; port++) {
    if (port >= 32000) throw new Error(`fewer than ${count} free ports from ${base}`);
    if (await freeOnAll(addresses, port)) ports.push(port);
  }
  return ports;
}

async function freeOnAll(addresses: readonly string[], port: number): Promise<boolean> {
  for (const host of addresses) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free) return false;
  }
  return true;
}
