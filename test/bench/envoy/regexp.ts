/** `text` as a regular expression that matches exactly it (for Envoy's admin filters: RE2). */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
