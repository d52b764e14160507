/**
 * glibc malloc settings for the `skiff xds` container. Node allocates every
 * Buffer (each ADS request and response, each encoded resource) with
 * malloc, and by default glibc keeps a heap per thread (up to 8 per core)
 * and holds freed memory in each: with a thousand proxies connected, two
 * thirds of the server's resident memory per proxy was freed memory glibc
 * had kept, not V8's heap (benchmark B6). Two arenas, and trimming or
 * unmapping anything over 128 KiB, give it back. Set by the Deployment and
 * by the benchmarks that start the server, so that what is measured is what
 * runs.
 */
export const XDS_ALLOCATOR_ENV: readonly { readonly name: string; readonly value: string }[] = [
  { name: "MALLOC_ARENA_MAX", value: "2" },
  { name: "MALLOC_TRIM_THRESHOLD_", value: "131072" },
  { name: "MALLOC_MMAP_THRESHOLD_", value: "131072" },
];

/** XDS_ALLOCATOR_ENV as a process environment. */
export function xdsAllocatorEnv(): Record<string, string> {
  return Object.fromEntries(XDS_ALLOCATOR_ENV.map(({ name, value }) => [name, value]));
}
