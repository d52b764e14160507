/** metav1.Time has second precision and serializes as RFC 3339 in UTC. */
export function kubernetesTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, "Z");
}

/** metav1.MicroTime: RFC 3339 with microseconds, as Lease times are written. */
export function kubernetesMicroTime(date: Date): string {
  return date.toISOString().replace(/Z$/, "000Z");
}
