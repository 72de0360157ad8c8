/**
 * Issue 13.13: package.json's dependencies are what the shipped code uses. A dependency that
 * nothing imports (p-limit was one) costs every user an install; a package the code imports that
 * is only a devDependency (or not declared) breaks every user's install. Both are read from the
 * sources: the module specifiers of src/ (static and dynamic imports, re-exports, and
 * `require.resolve`, which checksum.ts uses to find xxhash-wasm's file).
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { REPO_ROOT } from "../helpers/child-process.js";

const SPECIFIER_PATTERNS = [
  /^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gm, // import ... from "x"; export ... from "x"
  /^\s*import\s+"([^"]+)"/gm, // import "x"
  /\bimport\(\s*"([^"]+)"\s*\)/g, // import("x")
  /\.resolve\(\s*"([^"]+)"\s*\)/g, // require.resolve("x")
];

/** The package a bare specifier names: "@scope/name" or "name", without a subpath. */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith(".ts")).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Every package src/ imports at run time (type-only imports vanish from the build and count too: the shipped types import them). */
async function importedPackages(): Promise<Set<string>> {
  const packages = new Set<string>();
  for (const file of await sourceFiles(path.join(REPO_ROOT, "src"))) {
    const text = await readFile(file, "utf8");
    for (const pattern of SPECIFIER_PATTERNS) {
      for (const match of text.matchAll(pattern)) {
        const specifier = match[1]!;
        if (specifier.startsWith(".") || specifier.startsWith("node:")) continue;
        packages.add(packageOf(specifier));
      }
    }
  }
  return packages;
}

/**
 * Packages src/ refers to only when it runs from its .ts sources (which need them anyway), never
 * from the built package: tsx, whose loader a compaction worker started from the sources
 * registers (compaction-offload.ts; Node 20 does not pass `--import tsx` to a worker).
 */
const SOURCES_ONLY = new Set(["tsx"]);

it("every dependency is imported by src/, and src/ imports no package that is not a dependency (issue 13.13)", async () => {
  const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  const dependencies = Object.keys(manifest.dependencies ?? {}).sort();
  const imported = [...(await importedPackages())].sort();
  assert.ok(imported.length > 0, "the scan found the imports (commander, denque, ...)");
  assert.deepEqual(
    dependencies.filter((name) => !imported.includes(name)),
    [],
    "dependencies that nothing in src/ imports (drop them from package.json)",
  );
  assert.deepEqual(
    imported.filter((name) => !dependencies.includes(name) && !SOURCES_ONLY.has(name)),
    [],
    "packages src/ imports that are not dependencies (a user's install would lack them)",
  );
});
