/**
 * Bundles a bench entry script (and the library sources it imports) into one JavaScript file
 * with esbuild, so that each fresh child process starts in a fraction of the time tsx needs:
 * on this shared 2-core machine a child under tsx took 1.2-2.4 s to load the library (the AWS
 * SDK alone is hundreds of small modules), the bundle 0.2-0.6 s. Over a few hundred runs that
 * is minutes of a 15-minute budget.
 *
 * Nothing measured changes: tsx transpiles with the same esbuild, and the bundle keeps the
 * sources' code as it is (target node20, no minification). The file goes under
 * node_modules/.cache/, inside the repository, because the sources load some CommonJS packages
 * with `createRequire(import.meta.url)`, which must resolve from the repository's node_modules.
 * When esbuild cannot be loaded (it comes with tsx, so it normally is there), callers fall back
 * to tsx.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "./paths.js";

/** Modules loaded by URL at run time (worker threads, a worker's filter), by their place beside the bundle. */
const WORKER_MODULES: Record<string, string> = {
  "compaction-worker": path.join(repoRoot(), "src", "engine", "compaction-worker.ts"),
  "stream/stream-filter": path.join(repoRoot(), "src", "stream", "stream-filter.ts"),
};

interface EsbuildModule {
  build(options: Record<string, unknown>): Promise<{ errors: unknown[] }>;
}

/**
 * Bundles `entry` to node_modules/.cache/durastream-bench/<name>.mjs and returns that path, or
 * returns undefined (with the reason) when esbuild is not available or the build fails.
 */
export async function bundleEntry(entry: string): Promise<{ file: string } | { file: undefined; reason: string }> {
  let esbuild: EsbuildModule;
  try {
    const specifier = "esbuild";
    esbuild = (await import(specifier)) as EsbuildModule;
  } catch (error) {
    return { file: undefined, reason: `esbuild not loadable (${String(error)})` };
  }
  const outDir = path.join(repoRoot(), "node_modules", ".cache", "durastream-bench");
  mkdirSync(outDir, { recursive: true });
  const name = path.basename(entry).replace(/\.[cm]?tsx?$/, "");
  const file = path.join(outDir, `${name}.mjs`);
  try {
    await esbuild.build({
      // The modules the library starts in a worker thread or hands to one, found beside the code
      // that names them (moduleBeside in compaction-offload.ts): beside the bundle, at the paths
      // they have relative to src/ in the sources. Without them a bundled child's compaction
      // worker could not start, and every compaction ran on the log's thread.
      entryPoints: { [name]: entry, ...WORKER_MODULES },
      outdir: outDir,
      outExtension: { ".js": ".mjs" },
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      logLevel: "error",
      // Bundled CommonJS dependencies call require(); an ES module has none, so give it one
      // that resolves from the bundle's own location (inside the repository).
      banner: { js: 'import { createRequire as __benchCreateRequire } from "node:module"; const require = __benchCreateRequire(import.meta.url);' },
    });
    return { file };
  } catch (error) {
    return { file: undefined, reason: `esbuild failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}
