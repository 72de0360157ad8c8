/**
 * Issue 13.2 and 13.3: durastream as a user's package gets it. The package is built and packed
 * with `npm pack` (which runs the build), unpacked into a consumer package in a temp dir (its
 * dependencies linked from this repository's node_modules: offline and fast), then:
 *   - an ES module imports it and a CommonJS script `require()`s it (Node's require(esm), which
 *     refuses a module graph with a top-level await), and each appends and reads a record;
 *   - TypeScript with the strictest settings (exactOptionalPropertyTypes, skipLibCheck: false)
 *     compiles a program against the shipped types of both entry points (`durastream` and
 *     `durastream/server`, handing a Log from one to the other);
 *   - internal classes do not leak (issue 13.3): the shipped declarations are one file per entry
 *     point plus one shared file (scripts/build.mjs), none declares an internal class, and a
 *     program that imports one, from the entry point or by a deep path, does not compile;
 *   - the tarball ships no source maps (they would point to src/, which is not shipped).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const run = promisify(execFile);

const USE_FROM_ESM = `import { openLog } from "durastream";
const log = await openLog({ store: "memory://" });
const stream = await log.openStream("s", { createIfMissing: true });
await stream.append([{ body: "from esm" }]);
for await (const record of stream.read({ from: { seqNum: 0 } })) console.log(record.seqNum, new TextDecoder().decode(record.body));
await log.close();
`;

const USE_FROM_CJS = `const { openLog } = require("durastream");
(async () => {
  const log = await openLog({ store: "memory://" });
  const stream = await log.openStream("s", { createIfMissing: true });
  await stream.append([{ body: "from cjs" }]);
  for await (const record of stream.read({ from: { seqNum: 0 } })) console.log(record.seqNum, new TextDecoder().decode(record.body));
  await log.close();
})();
`;

/** Touches the public API's option and record types, where exactOptionalPropertyTypes bites. */
const USE_FROM_TS = `import { LocalStore, MemoryStore, openLog, type AppendRecord, type LogOptions, type ObjectStore, type ReadRecord } from "durastream";
import { createS2Api, startServer } from "durastream/server";
const store: ObjectStore = new MemoryStore();
const local: ObjectStore = new LocalStore("/tmp/never-opened");
const options: LogOptions = { store, flushIntervalMs: 5 };
const log = await openLog(options);
const stream = await log.openStream("s", { createIfMissing: true, config: { retention: { ageSeconds: 60 } } });
const records: AppendRecord[] = [{ body: "x", headers: [["type", "order"]] }];
await stream.append(records, { matchSeqNum: 0 });
for await (const record of stream.read({ from: { seqNum: 0 }, limit: { count: 1 } })) {
  const read: ReadRecord = record;
  console.log(read.seqNum, local.description);
}
console.log(log.health().status, log.metrics().engine);
const api = await createS2Api({ log });
const server = await startServer({ store: new MemoryStore(), port: 0 });
await server.close();
console.log(typeof api);
await log.close();
`;

/** Internal classes that reach no published declaration: each import must fail to compile. */
const INTERNAL_CLASSES = ["Engine", "InstrumentedStore", "RetryingStore", "Streamer", "StreamRegistry", "WriterEpoch", "GarbageCollector"];
const USE_INTERNAL_FROM_ENTRY = `import { InstrumentedStore } from "durastream";\nconsole.log(InstrumentedStore);\n`;
const USE_INTERNAL_BY_PATH = `import { RetryingStore } from "durastream/dist/engine/retrying-store.js";\nconsole.log(RetryingStore);\n`;

const STRICTEST_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    noPropertyAccessFromIndexSignature: true,
    noImplicitReturns: true,
    skipLibCheck: false,
    noEmit: true,
  },
  files: ["use.mts"],
};

describe("durastream from a consumer package built with npm pack (issues 13.2, 13.3)", { timeout: 180_000 }, () => {
  let consumer = "";
  let packed: string[] = [];

  before(async () => {
    const work = await makeTempDir("consumer");
    const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", work], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const report = JSON.parse(stdout.slice(stdout.indexOf("["))) as { filename: string; files: { path: string }[] }[];
    packed = report[0]!.files.map((file) => file.path);
    consumer = path.join(work, "app");
    const installed = path.join(consumer, "node_modules", "durastream");
    await mkdir(installed, { recursive: true });
    await run("tar", ["xzf", path.join(work, report[0]!.filename), "-C", installed, "--strip-components=1"]);
    // The package's own dependencies, and @types/node for the consumer's compiler, from this repository.
    await symlink(path.join(REPO_ROOT, "node_modules"), path.join(installed, "node_modules"), "dir");
    await symlink(path.join(REPO_ROOT, "node_modules", "@types"), path.join(consumer, "node_modules", "@types"), "dir");
    await writeFile(path.join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    await writeFile(path.join(consumer, "esm.mjs"), USE_FROM_ESM);
    await writeFile(path.join(consumer, "cjs.cjs"), USE_FROM_CJS);
    await writeFile(path.join(consumer, "use.mts"), USE_FROM_TS);
    await writeFile(path.join(consumer, "tsconfig.json"), JSON.stringify(STRICTEST_TSCONFIG, null, 2));
    await writeFile(path.join(consumer, "internal-entry.mts"), USE_INTERNAL_FROM_ENTRY);
    await writeFile(path.join(consumer, "internal-path.mts"), USE_INTERNAL_BY_PATH);
    const internal = { ...STRICTEST_TSCONFIG, files: ["internal-entry.mts", "internal-path.mts"] };
    await writeFile(path.join(consumer, "tsconfig.internal.json"), JSON.stringify(internal, null, 2));
  });

  it("an ES module imports it", async () => {
    const { stdout } = await run(process.execPath, ["esm.mjs"], { cwd: consumer });
    assert.equal(stdout, "0 from esm\n");
  });

  it("a CommonJS script require()s it (no top-level await in the module graph)", async () => {
    const { stdout } = await run(process.execPath, ["cjs.cjs"], { cwd: consumer });
    assert.equal(stdout, "0 from cjs\n");
  });

  const tsc = (project: string) =>
    run(process.execPath, [path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", project], { cwd: consumer }).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? String(error) }),
    );

  it("its types, both entry points, compile with exactOptionalPropertyTypes and skipLibCheck: false", async () => {
    assert.equal((await tsc(".")).stdout, "", "tsc reported errors");
  });

  it("ships no internal class in its types: none is declared, none can be imported", async () => {
    const declarations = packed.filter((file) => file.endsWith(".d.ts")).sort();
    assert.deepEqual(declarations, ["dist/index.d.ts", "dist/server/index.d.ts", "dist/types/shared.d.ts"]);
    for (const file of declarations) {
      const text = await readFile(path.join(consumer, "node_modules", "durastream", file), "utf8");
      for (const name of INTERNAL_CLASSES) assert.doesNotMatch(text, new RegExp(`declare class ${name}\\b`), `${file} declares ${name}`);
    }
    const { stdout } = await tsc("tsconfig.internal.json");
    assert.match(stdout, /TS2305: Module '"durastream"' has no exported member 'InstrumentedStore'/);
    assert.match(stdout, /TS2307: Cannot find module 'durastream\/dist\/engine\/retrying-store.js'/);
  });

  it("ships dist, bin and the docs, and no source maps nor sources", () => {
    assert.ok(packed.includes("dist/index.js") && packed.includes("dist/index.d.ts") && packed.includes("bin/durastream.mjs"), packed.join(" "));
    assert.deepEqual(packed.filter((file) => file.endsWith(".map") || file.startsWith("src/") || file.startsWith("tests/")), []);
  });
});
