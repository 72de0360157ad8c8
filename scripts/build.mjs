// `npm run build`: compiles src/ to dist/ (JavaScript only) and writes the published types as ONE
// file, dist/index.d.ts, holding only what src/index.ts exports and what those exports refer to.
// Per-file declarations would ship every internal module's classes (the engine, the streamer, ...)
// and make a strict consumer type-check them; the bundle leaves them out, and `@internal` members
// are stripped (tsconfig.build.json).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const run = (script, args) => execFileSync(process.execPath, [script, ...args], { cwd: root, stdio: "inherit" });

rmSync(path.join(root, "dist"), { recursive: true, force: true });
run(require.resolve("typescript/bin/tsc"), ["-p", "tsconfig.build.json"]);
run(path.join(root, "node_modules", "dts-bundle-generator", "dist", "bin", "dts-bundle-generator.js"), [
  "--project", "tsconfig.build.json", "--no-check", "--silent", "-o", "dist/index.d.ts", "src/index.ts",
]);
