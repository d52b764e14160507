import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export const INVALID_FIXTURE_DIR = join(import.meta.dirname, "..", "testdata", "invalid");

/**
 * A CR that the API must reject. Its header comments say what the rejection
 * must name:
 *   # expect-field: spec.http[0].route
 *   # expect-message: the weights of a route must sum to 100
 *   # offline: rejected      (the schema alone catches it, so `skiff validate` must too)
 */
export interface InvalidFixture {
  file: string;
  path: string;
  why: string;
  field: string;
  message: string;
  rejectedOffline: boolean;
  object: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

function header(text: string, key: string): string | undefined {
  return text.match(new RegExp(`^# ${key}: (.*)$`, "m"))?.[1]?.trim();
}

export function invalidFixtures(): InvalidFixture[] {
  return readdirSync(INVALID_FIXTURE_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const path = join(INVALID_FIXTURE_DIR, file);
      const text = readFileSync(path, "utf8");
      const field = header(text, "expect-field");
      const message = header(text, "expect-message");
      if (!field || !message) throw new Error(`${file} lacks an expect-field or expect-message header`);
      return {
        file,
        path,
        why: text.split("\n")[0]!.replace(/^# /, ""),
        field,
        message,
        rejectedOffline: header(text, "offline") === "rejected",
        object: parse(text) as InvalidFixture["object"],
      };
    });
}
