/** A `host:port` listen address; an empty host (":8081") means every interface. */
export function listenAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon) || "0.0.0.0", port: Number(address.slice(colon + 1)) };
}
