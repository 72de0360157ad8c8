// `npm run build`: compiles src/ to dist/ and writes the published types as one declaration file
// per entry point: dist/index.d.ts (`durastream`) and dist/server/index.d.ts (`durastream/server`).
//
// tsc's per-file declarations would ship every internal module (the engine, the streamer, the
// retrying store, ...) as a file a consumer's compiler checks and can reach; rollup-plugin-dts
// instead follows each entry point's exports and keeps only what they refer to, internal classes
// left unexported. Both entry points go through one rollup build, so a declaration both use (the
// server takes a `Log`) exists once: `durastream/server` imports it from the main entry's file
// instead of declaring a second `Log` class, which a strict consumer could not pass to it
// (classes with private fields are nominal). `@internal` members are stripped by tsc first.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { rollup } from "rollup";
import { dts } from "rollup-plugin-dts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const declarations = path.join(root, "dist", ".declarations");

rmSync(path.join(root, "dist"), { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.build.json", "--declarationDir", declarations], { cwd: root, stdio: "inherit" });
try {
  const bundle = await rollup({
    input: { index: path.join(declarations, "index.d.ts"), "server/index": path.join(declarations, "server", "index.d.ts") },
    plugins: [dts({ respectExternal: false })],
    // Packages (node:*, the AWS SDK) stay imports; anything relative is ours and is bundled.
    external: (id) => !id.startsWith(".") && !path.isAbsolute(id),
    onwarn(warning) {
      throw new Error(`rollup: ${warning.message}`);
    },
  });
  await bundle.write({ dir: path.join(root, "dist"), format: "es", entryFileNames: "[name].d.ts", chunkFileNames: "types/shared.d.ts" });
  await bundle.close();
} finally {
  rmSync(declarations, { recursive: true, force: true });
}
