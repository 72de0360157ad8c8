/**
 * Where the bench is: the repository root, found by walking up from this module to the
 * package.json named "durastream". It works both when the bench runs from its TypeScript
 * sources (tsx) and from a bundle under node_modules/.cache/ (bench/lib/bundle.ts), where
 * `import.meta.url` is the bundle's location.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

let cachedRoot: string | undefined;

export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "durastream") {
      cachedRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no durastream package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** bench/peers: the separate package that holds the peers (better-sqlite3, classic-level, lmdb). */
export function peersDir(): string {
  return path.join(repoRoot(), "bench", "peers");
}
