/**
 * Pod IPs for the local node: addresses of one IPv4 prefix, handed out in
 * turn after the last one given (as CNI's host-local IPAM does) and given
 * back when a Pod's sandbox is torn down. Handing out a just-freed address
 * again at once (lowest first) made a new Pod inherit its predecessor's
 * entries in its peers' neighbour (ARP) caches and connection tracking: the
 * new Pod's SYNs to the xDS server went unanswered for about a minute. The first address
 * of the prefix is the node's own (the bridge's gateway), so Pods never get
 * it, nor the network or broadcast address.
 */
export class PodIpAllocator {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  /** The offset handed out last; the next search starts after it. */
  private last = 1;

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
    // Offsets 2 .. size-2: not the network, the gateway (1) or the broadcast address.
    const usable = this.size - 3;
    for (let step = 1; step <= usable; step++) {
      const offset = 2 + ((this.last - 2 + step + usable) % usable);
      if (!this.used.has(offset)) {
        this.used.add(offset);
        this.last = offset;
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
