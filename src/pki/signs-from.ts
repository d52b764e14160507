/**
 * A CA Secret may hold a signer that is trusted before it signs: with the
 * annotation `skiff.dev/signs-from: <RFC 3339 time>`, the xDS server signs
 * with its tls.crt/tls.key only from that time, and until then sends only
 * its ca.crt (the new root beside the old) to the workloads. This is the
 * first step of the staged root rotation (trust, then sign) held in one
 * object, so that no crash can leave it half done; the operator writes it on
 * a root it regenerates.
 */
import { SIGNS_FROM_ANNOTATION } from "../mesh/annotations.js";

/**
 * When the Secret's signer starts signing, if that is still after `now`;
 * undefined when it signs already: no annotation, a time that has come, or
 * one that does not parse (the annotation only ever delays).
 *
 * Pure: the clock is an argument.
 */
export function signsLater(annotations: Record<string, string> | undefined, now: Date): Date | undefined {
  const value = annotations?.[SIGNS_FROM_ANNOTATION];
  if (value === undefined) return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) || at <= now ? undefined : at;
}
