/**
 * The CLI as real child processes (`node --import tsx src/cli/main.ts ...`) on a LocalStore
 * directory: lines appended from a shell pipe by one process reach a `read --follow` in another,
 * which Ctrl-C (SIGINT) ends with exit 0 and nothing lost; errors are one stderr line with an
 * exit code; `inspect --verify` finds a flipped byte in an SST and in a WAL object on disk.
 *
 * Each child costs about a second of tsx start-up on a busy machine, so the file starts few of
 * them and runs the independent ones at once. The in-process suite covers the option matrix.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { openLog, type StoreInspection } from "../../src/index.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { REPO_ROOT } from "../helpers/child-process.js";
import { cliChild, lines, spawnCli } from "./fixtures/cli-harness.js";

/** Flips every bit of the byte in the middle of a file. */
async function flipMiddleByte(file: string): Promise<void> {
  const bytes = await readFile(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = bytes[at]! ^ 0xff;
  await writeFile(file, bytes);
}

describe("durastream CLI as child processes (LocalStore)", { timeout: 60_000 }, () => {
  it("read --follow in one process receives lines that `durastream append` processes pipe in, and SIGINT ends it with exit 0", async () => {
    const url = pathToFileURL(await makeTempDir("cli-follow")).href;
    const first = await cliChild(["append", url, "events", "--create-if-missing"], "first\nsecond\n");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^seq 0(\.\.1)? /);

    const follower = spawnCli(["read", url, "events", "--follow", "--poll", "50ms"]);
    await follower.waitForLine((line) => line.endsWith("\tsecond"));
    const second = await cliChild(["append", url, "events", "--batch", "1"], "third\nfourth\nfifth\n");
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(lines(second.stdout).map((line) => line.split(" (")[0]), ["seq 2", "seq 3", "seq 4"]);
    await follower.waitForLine((line) => line.endsWith("\tfifth"));

    follower.process.kill("SIGINT");
    const exit = await follower.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, follower.stderr());
    assert.equal(follower.stderr(), "");
    const records = follower.lines.map((line) => line.split("\t"));
    assert.deepEqual(records.map((r) => r[0]), ["0", "1", "2", "3", "4"]);
    assert.deepEqual(records.map((r) => r[2]), ["first", "second", "third", "fourth", "fifth"]);
  });

  it("read --follow ends at once when the reader of its stdout goes away (`| head -1`), at the first write after (issue 13.14)", async () => {
    const url = pathToFileURL(await makeTempDir("cli-epipe")).href;
    const log = await openLog({ store: url });
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append([{ body: "first" }]);
      const follower = spawnCli(["read", url, "s", "--follow", "--poll", "20ms"]);
      await follower.waitForLine((line) => line.endsWith("\tfirst"));
      follower.process.stdout!.destroy(); // as `head -1` exits after its line
      await stream.append([{ body: "second" }]); // its write meets the closed pipe
      const exit = await follower.exited; // without the fix it waits for a third record forever
      assert.deepEqual(exit, { code: 0, signal: null }, follower.stderr());
    } finally {
      await log.close();
    }
  });

  it("the README's `yes | npx durastream append ...` works on a fresh directory (issue 13.14)", async () => {
    const readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");
    const command = /`yes \| npx durastream (append [^`]+)`/.exec(readme)?.[1];
    assert.ok(command !== undefined, "the README shows the command");
    const url = pathToFileURL(await makeTempDir("cli-readme")).href;
    const argv = command.split(" ").map((arg) => (arg === "file://./data" ? url : arg));
    const result = await cliChild(argv, "y\ny\ny\n");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^seq 0/);
  });

  it("issue 13.14 as a user sees it: help says each default once, one JSON convention (lines for items, one object per report), no library advice in errors", async () => {
    const url = pathToFileURL(await makeTempDir("cli-json")).href;
    const benchUrl = pathToFileURL(await makeTempDir("cli-bench")).href;
    for (const name of ["a", "b"]) {
      const appended = await cliChild(["append", url, name, "--create-if-missing"], "x\n");
      assert.equal(appended.code, 0, appended.stderr);
    }
    const [help, ls, inspect, bench, again] = await Promise.all([
      cliChild(["append", "--help"]),
      cliChild(["ls", url, "--format", "json"]),
      cliChild(["inspect", url, "--format", "json"]),
      cliChild(["bench", benchUrl, "--records", "100", "--batch", "50", "--body-bytes", "10", "--format", "json"]),
      cliChild(["create", url, "a"]),
    ]);
    assert.equal(help.code, 0, help.stderr);
    for (const block of help.stdout.split(/\n(?= {2}-)/)) assert.ok((block.match(/default/g) ?? []).length <= 1, `a default said twice:\n${block}`);
    // Items: JSON lines, one object per stream.
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(lines(ls.stdout).map((line) => (JSON.parse(line) as { name: string }).name), ["a", "b"]);
    // Reports: one JSON object (on one line).
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.equal(lines(inspect.stdout).length, 1);
    assert.ok(Array.isArray((JSON.parse(inspect.stdout) as { wal: unknown }).wal));
    assert.equal(bench.code, 0, bench.stderr);
    assert.equal(lines(bench.stdout).length, 1);
    assert.ok(Array.isArray((JSON.parse(bench.stdout) as { phases: unknown }).phases));
    // An error on the command line gives command-line advice, not a library call.
    assert.equal(again.code, 1);
    assert.match(again.stderr, /\(code stream_exists\)/);
    assert.doesNotMatch(again.stderr, /openStream\(|log\./);
  });

  it("errors are one line on stderr with the error code, and the exit code says what kind", async () => {
    const url = pathToFileURL(await makeTempDir("cli-errors")).href;
    const [missing, badArgs] = await Promise.all([cliChild(["tail", url, "nope"]), cliChild(["read", url, "s", "--count", "many"])]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, "");
    assert.equal(lines(missing.stderr).length, 1, missing.stderr);
    assert.match(missing.stderr, /^durastream: stream "nope" does not exist; .*\(code stream_not_found\)\n$/);
    assert.equal(badArgs.code, 2);
    assert.equal(lines(badArgs.stderr).length, 1, badArgs.stderr);
    assert.match(badArgs.stderr, /^durastream: option '--count <n>' argument 'many' is invalid/);
  });

  it("inspect --verify passes on a healthy store and reports a flipped byte in an SST and in a WAL object (exit 1)", async () => {
    const dir = await makeTempDir("cli-inspect");
    const url = pathToFileURL(dir).href;
    const log = await openLog({ store: url, l0SstBytes: 1024, walMode: "objects" }); // WAL objects to damage (segments: tests/engine/segment-wal.test.ts)
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      for (let i = 0; i < 20; i++) await stream.append(Array.from({ length: 10 }, (_, j) => ({ body: `record ${i}-${j} `.repeat(4) })));
    } finally {
      await log.close();
    }
    const healthy = await cliChild(["inspect", url, "--verify", "--format", "json"]);
    assert.equal(healthy.code, 0, healthy.stderr);
    const report = JSON.parse(healthy.stdout) as StoreInspection;
    assert.deepEqual(report.problems, []);
    assert.ok(report.ssts.length > 0, "the workload made SSTs");
    assert.ok(report.ssts.every((sst) => sst.blocks !== undefined && sst.blocks > 0), "every SST was read");
    const wal = report.wal.find((w) => w.state !== "fence");
    assert.ok(wal !== undefined, "a WAL object with batches remains");
    assert.equal(report.checkedObjects, report.manifests.length + report.wal.length + report.ssts.length);

    const sst = report.ssts.find((s) => s.level !== "unreferenced") ?? report.ssts[0]!;
    await flipMiddleByte(path.join(dir, sst.key));
    await flipMiddleByte(path.join(dir, wal.key));
    const corrupt = await cliChild(["inspect", url, "--verify"]);
    assert.equal(corrupt.code, 1, corrupt.stderr);
    assert.match(corrupt.stdout, /^verify: \d+ objects, .* read; 2 problems$/m);
    const problems = lines(corrupt.stderr);
    assert.equal(problems.length, 2, corrupt.stderr);
    assert.match(problems.find((line) => line.includes(wal.key)) ?? "", /^durastream: wal\/\d+: .*checksum.*\(code corruption\)$/);
    assert.match(problems.find((line) => line.includes(sst.key)) ?? "", /^durastream: sst\/\d+: .*\(code corruption\)$/);
  });
});
