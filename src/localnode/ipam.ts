/**
 * Pod IPs for the local node: addresses of one IPv4 prefix, handed out lowest
 * first and given back when a Pod's sandbox is torn down. The first address
 * of the prefix is the node's own (the bridge's gateway), so Pods never get
 * it, nor the network or broadcast address.
 */
export class PodIpAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();

  /** `cidr` such as 10.244.0.0/16; throws on anything else. */
  constructor(readonly cidr: string) {
    const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    const octets = match?.slice(1, 5).map(Number);
    const bits = Number(match?.[5]);
    if (!octets || octets.some((o) => o > 255) || bits < 8 || bits > 30)
      throw new Error(`pod CIDR ${cidr}: want an IPv4 prefix from /8 to /30`);
    const address = octets.reduce((a, o) => a * 256 + o, 0);
    this.size = 2 ** (32 - bits);
    this.base = address - (address % this.size);
  }

  /** The node's own address on the Pod network (the Pods' default gateway). */
  get gateway(): string {
    return toDotted(this.base + 1);
  }

  get prefixLength(): number {
    return 32 - Math.log2(this.size);
  }

  /** The lowest free address; throws when the prefix is full. */
  allocate(): string {
    for (let offset = 2; offset < this.size - 1; offset++) {
      if (!this.used.has(offset)) {
        this.used.add(offset);
        return toDotted(this.base + offset);
      }
    }
    throw new Error(`pod CIDR ${this.cidr} has no free address`);
  }

  /** Gives an address back; unknown addresses are ignored. */
  release(ip: string): void {
    const parts = ip.split(".").map(Number);
    this.used.delete(parts.reduce((a, o) => a * 256 + o, 0) - this.base);
  }
}

function toDotted(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}
