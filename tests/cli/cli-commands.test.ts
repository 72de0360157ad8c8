/**
 * The CLI's commands run in-process (runCli) against named MemoryStores: output formats, exit
 * codes, bad arguments, missing streams, the conditions of `append`, following until Ctrl-C,
 * and that the reading commands never write to the store (so they never fence a live writer).
 * The same commands as real child processes on a LocalStore are in cli-process.test.ts.
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { hasCode, openLog, openStore, recordText, type Log, type ObjectStore } from "../../src/index.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { cli, lines, startCli } from "./fixtures/cli-harness.js";

let storeCounter = 0;
/** A fresh named memory store URL (named stores are shared by every open in this process). */
function freshUrl(): string {
  return `memory://cli-commands-${process.pid}-${++storeCounter}`;
}

async function withWriter<T>(url: string, fn: (log: Log) => Promise<T>): Promise<T> {
  const log = await openLog({ store: url });
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

/** Every key with its etag: equal snapshots mean nothing was written. */
async function snapshot(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of store.list("")) out.push(`${entry.key} ${(await store.head(entry.key)).etag}`);
  return out;
}

function assertOneErrorLine(stderr: string, code: string): void {
  const errorLines = lines(stderr);
  assert.equal(errorLines.length, 1, `expected one stderr line, got:\n${stderr}`);
  assert.match(errorLines[0]!, new RegExp(`^durastream: .*\\(code ${code}\\)$`));
}

describe("durastream CLI commands (in-process, MemoryStore)", { timeout: 30_000 }, () => {
  it("create prints the new stream's config; creating it again fails with stream_exists and exit 1", async () => {
    // (issue 13.14: the error must not advise a library call, log.openStream(), on the command line)
    const url = freshUrl();
    const created = await cli(["create", url, "orders", "--retention", "30d", "--timestamping", "arrival", "--uncapped"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^stream: +orders$/m);
    assert.match(created.stdout, /^retention: +30d$/m);
    assert.match(created.stdout, /^timestamping: +arrival \(uncapped\)$/m);
    const again = await cli(["create", url, "orders"]);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, "");
    assertOneErrorLine(again.stderr, "stream_exists");
    assert.doesNotMatch(again.stderr, /openStream|log\./);
  });

  it("ls lists streams in name order, filters by prefix, pages with --start-after and --limit, and prints JSON", async () => {
    const url = freshUrl();
    for (const name of ["b-two", "a-one", "b-one", "c"]) assert.equal((await cli(["create", url, name])).code, 0);
    const all = await cli(["ls", url]);
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(lines(all.stdout).map((line) => line.split(/\s+/)[0]), ["NAME", "a-one", "b-one", "b-two", "c"]);
    const prefixed = await cli(["ls", url, "--prefix", "b-", "--format", "json"]);
    assert.deepEqual(lines(prefixed.stdout).map((line) => (JSON.parse(line) as { name: string }).name), ["b-one", "b-two"]);
    const paged = await cli(["ls", url, "--start-after", "a-one", "--limit", "2", "--format", "json"]);
    assert.deepEqual(lines(paged.stdout).map((line) => (JSON.parse(line) as { name: string }).name), ["b-one", "b-two"]);
    const none = await cli(["ls", url, "--prefix", "zzz"]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /no streams/);
  });

  it("config shows the config, changes it only when an option is given, and fails on a missing stream", async () => {
    const url = freshUrl();
    await cli(["create", url, "s", "--retention", "7d"]);
    const shown = await cli(["config", url, "s", "--format", "json"]);
    assert.equal(shown.code, 0, shown.stderr);
    const before = JSON.parse(shown.stdout) as { config: { retention: unknown; timestamping: { mode: string } } };
    assert.deepEqual(before.config.retention, { ageSeconds: 604800 });
    const changed = await cli(["config", url, "s", "--retention", "infinite", "--timestamping", "client-require"]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stdout, /^retention: +infinite$/m);
    assert.match(changed.stdout, /^timestamping: +client-require$/m);
    const after = JSON.parse((await cli(["config", url, "s", "--format", "json"])).stdout) as typeof before;
    assert.equal(after.config.retention, "infinite");
    assert.equal(after.config.timestamping.mode, "client-require");
    // A prefix of an existing name is not that stream.
    await cli(["create", url, "s-longer"]);
    const missing = await cli(["config", url, "nope"]);
    assert.equal(missing.code, 1);
    assertOneErrorLine(missing.stderr, "stream_not_found");
  });

  it("append makes one record per stdin line, with headers, and prints the acks in order", async () => {
    const url = freshUrl();
    const input = new PassThrough();
    const run = startCli(["append", url, "logs", "--create-if-missing", "--header", "source=test", "--header", "k=a=b", "--batch", "2"], { stdin: input });
    // Chunks that split lines in odd places, an empty line, and a last line without a newline.
    for (const chunk of ["one\ntw", "o\n\nthr", "ee\nfour\nfive"]) input.write(chunk);
    input.end();
    const result = await run.result;
    assert.equal(result.code, 0, result.stderr);
    const acks = lines(result.stdout);
    assert.ok(acks.every((line) => /^seq \d+(\.\.\d+)? \(\d records?\) \S+Z tail \d+$/.test(line)), result.stdout);
    const covered = acks.flatMap((line) => {
      const [, first, last] = /^seq (\d+)(?:\.\.(\d+))?/.exec(line)!;
      const from = Number(first);
      const to = Number(last ?? first);
      assert.ok(to - from + 1 <= 2, `--batch 2 allows at most 2 records per append: ${line}`);
      return Array.from({ length: to - from + 1 }, (_, i) => from + i);
    });
    assert.deepEqual(covered, [0, 1, 2, 3, 4, 5], "acks cover every record once, in order");
    const read = await cli(["read", url, "logs", "--format", "json"]);
    const records = lines(read.stdout).map((line) => JSON.parse(line) as { seqNum: number; body: string; headers: [string, string][] });
    assert.deepEqual(records.map((r) => r.body), ["one", "two", "", "three", "four", "five"]);
    assert.deepEqual(records[0]!.headers, [["source", "test"], ["k", "a=b"]]);
  });

  it("append --body appends the given texts; --format json prints each ack as JSON", async () => {
    const url = freshUrl();
    await cli(["create", url, "s"]);
    const result = await cli(["append", url, "s", "--body", "x", "--body", "y", "--format", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const acks = lines(result.stdout).map((line) => JSON.parse(line) as { start: { seqNum: number }; end: { seqNum: number } });
    assert.deepEqual(acks.map((a) => [a.start.seqNum, a.end.seqNum]), [[0, 2]]);
  });

  it("append --match-seq appends only at that seqNum and keeps each later append right after the previous", async () => {
    const url = freshUrl();
    await cli(["create", url, "s"]);
    const ok = await cli(["append", url, "s", "--match-seq", "0", "--batch", "1", "--quiet"], { stdin: "a\nb\nc\n" });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, "", "--quiet prints no acks");
    const stale = await cli(["append", url, "s", "--match-seq", "1"], { stdin: "late\n" });
    assert.equal(stale.code, 1);
    assertOneErrorLine(stale.stderr, "seq_num_mismatch");
    assert.equal(lines((await cli(["tail", url, "s"])).stdout)[0]!.split("\t")[0], "3", "the failed append wrote nothing");
  });

  it("append --fencing-token appends only with the stream's token", async () => {
    const url = freshUrl();
    await withWriter(url, async (log) => {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.fence("owner-1");
    });
    const wrong = await cli(["append", url, "s", "--body", "x", "--fencing-token", "owner-2"]);
    assert.equal(wrong.code, 1);
    assertOneErrorLine(wrong.stderr, "fencing_token_mismatch");
    const right = await cli(["append", url, "s", "--body", "x", "--fencing-token", "owner-1"]);
    assert.equal(right.code, 0, right.stderr);
    assert.match(right.stdout, /^seq 1 \(1 record\)/);
  });

  it("append of a line longer than a record may be fails with exit 2 and appends nothing after it", async () => {
    const url = freshUrl();
    await cli(["create", url, "s"]);
    const result = await cli(["append", url, "s"], { stdin: `ok\n${"x".repeat(1024 * 1024 + 1)}\nafter\n` });
    assert.equal(result.code, 2);
    assertOneErrorLine(result.stderr, "validation");
    const read = await cli(["read", url, "s", "--format", "raw"]);
    assert.ok(!read.stdout.includes("after"), "nothing after the bad line was appended");
  });

  it("read starts from --from-seq, --tail-offset or --from-time (relative), and stops at --count or --until", async () => {
    const url = freshUrl();
    const t0 = 1_700_000_000_000;
    await withWriter(url, async (log) => {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append(Array.from({ length: 10 }, (_, i) => ({ body: `r${i}`, timestamp: t0 + i * 60_000 })));
    });
    const bodies = async (...args: string[]) => {
      const result = await cli(["read", url, "s", "--format", "raw", ...args], { nowMs: t0 + 10 * 60_000 });
      assert.equal(result.code, 0, result.stderr);
      return lines(result.stdout);
    };
    assert.deepEqual(await bodies(), ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"]);
    assert.deepEqual(await bodies("--from-seq", "7"), ["r7", "r8", "r9"]);
    assert.deepEqual(await bodies("--tail-offset", "2"), ["r8", "r9"]);
    assert.deepEqual(await bodies("--from-time", "-3m"), ["r7", "r8", "r9"]);
    assert.deepEqual(await bodies("--from-time=-3m"), ["r7", "r8", "r9"]);
    assert.deepEqual(await bodies("--from-time", new Date(t0 + 5 * 60_000).toISOString(), "--count", "2"), ["r5", "r6"]);
    assert.deepEqual(await bodies("--until", String(t0 + 2 * 60_000)), ["r0", "r1"]);
    assert.deepEqual(await bodies("--from-seq", "50", "--clamp"), []);
    const past = await cli(["read", url, "s", "--from-seq", "50"]);
    assert.equal(past.code, 1);
    assertOneErrorLine(past.stderr, "unwritten");
    assert.match(past.stderr, /--clamp/);
  });

  it("read formats: text escapes newlines and tabs, json falls back to base64 for non-UTF-8 bodies, raw is exact", async () => {
    const url = freshUrl();
    const t0 = 1_700_000_000_000;
    await withWriter(url, async (log) => {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append([
        { body: "a\tb\nc\\d", timestamp: t0, headers: [["h", "v"]] },
        { body: Uint8Array.of(0xff, 0x00, 0x41), timestamp: t0 },
      ]);
    });
    const text = await cli(["read", url, "s"]);
    assert.equal(text.stdout, `0\t${new Date(t0).toISOString()}\ta\\tb\\nc\\\\d\n1\t${new Date(t0).toISOString()}\t\ufffd\u0000A\n`);
    const json = lines((await cli(["read", url, "s", "--format", "json"])).stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(json[0], { seqNum: 0, timestamp: t0, time: new Date(t0).toISOString(), headers: [["h", "v"]], body: "a\tb\nc\\d" });
    assert.equal(json[1]!.bodyBase64, Buffer.from([0xff, 0x00, 0x41]).toString("base64"));
    assert.equal(json[1]!.body, undefined);
    const raw = await cli(["read", url, "s", "--format", "raw", "--from-seq", "1"]);
    assert.deepEqual(raw.stdoutBytes, Buffer.from([0xff, 0x00, 0x41, 0x0a]));
  });

  it("read --follow prints records appended while it waits, and ends cleanly (exit 0) when the signal fires", async () => {
    const url = freshUrl();
    await withWriter(url, async (log) => {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append([{ body: "before" }]);
      const controller = new AbortController();
      const follower = startCli(["read", url, "s", "--follow", "--poll", "20ms", "--format", "raw"], { signal: controller.signal });
      await follower.waitForStdout("before\n");
      await stream.append([{ body: "live-1" }, { body: "live-2" }]);
      await follower.waitForStdout("live-2\n");
      controller.abort();
      const result = await follower.result;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "before\nlive-1\nlive-2\n");
      assert.equal(result.stderr, "");
      // The follower was read-only: the writer was not fenced and can still append.
      await stream.append([{ body: "still-writing" }]);
    });
  });

  it("read --follow --wait ends after the idle time", async () => {
    const url = freshUrl();
    await cli(["create", url, "s"]);
    const result = await cli(["read", url, "s", "--follow", "--wait", "50ms"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "");
  });

  it("tail prints the next seqNum and the last timestamp, as text or JSON", async () => {
    const url = freshUrl();
    await cli(["create", url, "s"]);
    assert.equal((await cli(["tail", url, "s"])).stdout, "0\t-\n");
    await cli(["append", url, "s", "--body", "a", "--body", "b"]);
    const text = await cli(["tail", url, "s"]);
    assert.match(text.stdout, /^2\t\d{4}-\d\d-\d\dT\S+Z\n$/);
    const json = JSON.parse((await cli(["tail", url, "s", "--format", "json"])).stdout) as { seqNum: number; timestamp: number };
    assert.equal(json.seqNum, 2);
    const missing = await cli(["tail", url, "nope"]);
    assert.equal(missing.code, 1);
    assertOneErrorLine(missing.stderr, "stream_not_found");
  });

  it("delete removes the stream: reading it then fails with stream_not_found", async () => {
    const url = freshUrl();
    await cli(["append", url, "s", "--create-if-missing", "--body", "x"]);
    const deleted = await cli(["delete", url, "s"]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, "deleted stream s\n");
    const read = await cli(["read", url, "s"]);
    assert.equal(read.code, 1);
    assertOneErrorLine(read.stderr, "stream_not_found");
    assert.equal((await cli(["delete", url, "s"])).code, 1);
  });

  it("on a directory that does not exist, the reading commands fail with not_found and create nothing; a writer creates it (issue 13.8)", async () => {
    const parent = await makeTempDir("cli-missing");
    const url = "file://./no-such-dir";
    const run = (argv: string[]) => cli(argv, { cwd: parent });
    for (const argv of [["ls", url], ["inspect", url], ["tail", url, "s"], ["read", url, "s"]]) {
      const result = await run(argv);
      assert.equal(result.code, 1, `${argv[0]}: ${result.stderr}`);
      assert.equal(result.stdout, "", argv[0]);
      assertOneErrorLine(result.stderr, "not_found");
      assert.match(result.stderr, /no-such-dir does not exist/);
    }
    await assert.rejects(openLog({ store: `file://${join(parent, "no-such-dir")}`, readOnly: true }), (error: unknown) => hasCode(error, "not_found"));
    assert.deepEqual(await readdir(parent), [], "nothing was created");
    const created = await run(["create", url, "s"]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await run(["ls", url])).code, 0);
  });

  it("the reading commands (ls, read, tail, config, inspect) write nothing to the store and do not fence a live writer", async () => {
    const url = freshUrl();
    const store = openStore(url);
    await withWriter(url, async (log) => {
      const stream = await log.openStream("s", { createIfMissing: true });
      await stream.append([{ body: "one" }]);
      const before = await snapshot(store);
      for (const argv of [["ls", url], ["read", url, "s"], ["tail", url, "s"], ["config", url, "s"], ["inspect", url, "--verify"]]) {
        const result = await cli(argv);
        assert.equal(result.code, 0, `${argv.join(" ")}: ${result.stderr}`);
      }
      assert.deepEqual(await snapshot(store), before);
      const ack = await stream.append([{ body: "two" }]);
      assert.equal(ack.start.seqNum, 1, "the writer still writes");
      assert.deepEqual((await collectTexts(stream.read({ from: { seqNum: 0 } }))), ["one", "two"]);
    });
  });

  it("inspect lists the manifest and WAL objects; --format json gives the inspection object", async () => {
    const url = freshUrl();
    await cli(["append", url, "s", "--create-if-missing", "--body", "x"]);
    const text = await cli(["inspect", url]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^writer epoch: +1$/m);
    assert.match(text.stdout, /^wal\/0+1 +29 B +fence/m); // a fence has a 29-byte body (wal-format.ts)
    const inspected = (await cli(["inspect", url, "--verify", "--format", "json"])).stdout;
    assert.equal(lines(inspected).length, 1, "a report is one JSON object on one line (issue 13.14)");
    const json = JSON.parse(inspected) as { verified: boolean; problems: unknown[]; wal: { state: string }[] };
    assert.equal(json.verified, true);
    assert.deepEqual(json.problems, []);
    assert.ok(json.wal.some((w) => w.state === "replay"));
  });

  it("bench appends and reads the records, prints a result table, draws a progress bar on a terminal, and deletes its stream", async () => {
    const url = freshUrl();
    const result = await cli(["bench", url, "--records", "300", "--batch", "50", "--body-bytes", "10"], { stderrIsTTY: true });
    assert.equal(result.code, 0, result.stderr);
    const rows = lines(result.stdout).map((line) => line.split(/\s{2,}/));
    assert.deepEqual(rows.map((row) => row[0]), ["PHASE", "append", "read"]);
    assert.deepEqual(rows.slice(1).map((row) => row[1]), ["300", "300"]);
    assert.match(result.stderr, /append \[#{30}\] 100%  300\/300/);
    const jsonOut = (await cli(["bench", url, "--records", "20", "--format", "json", "--no-progress"])).stdout;
    assert.equal(lines(jsonOut).length, 1, "a report is one JSON object on one line");
    const json = (JSON.parse(jsonOut) as { phases: { phase: string; records: number }[] }).phases;
    assert.deepEqual(json.map((p) => [p.phase, p.records]), [["append", 20], ["read", 20]]);
    assert.equal((await cli(["ls", url])).stdout, "", "bench streams are deleted afterwards");
    const interrupted = new AbortController();
    interrupted.abort();
    const stopped = await cli(["bench", url, "--records", "1000", "--format", "json"], { signal: interrupted.signal });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual((JSON.parse(stopped.stdout) as { phases: { records: number }[] }).phases.map((p) => p.records), [0, 0], "Ctrl-C before the first append: nothing appended, nothing read");
  });

  it("bad arguments exit 2 with one line on stderr", async () => {
    const url = freshUrl();
    const cases: string[][] = [
      ["frobnicate"],
      ["read"],
      ["read", url],
      ["read", url, "s", "--count", "-1"],
      ["read", url, "s", "--count", "x"],
      ["read", url, "s", "--from-time", "yesterday"],
      ["read", url, "s", "--from-seq", "1", "--tail-offset", "2"],
      ["read", url, "s", "--format", "xml"],
      ["read", url, "s", "--no-such-option"],
      ["append", url, "s", "--batch", "1001"],
      ["append", url, "s", "--header", "novalue"],
      ["create", url, "s", "--retention", "forever"],
      ["create", url, "s", "--timestamping", "sometimes"],
      ["read", "not-a-url", "s"],
      ["create", url, ""],
    ];
    for (const argv of cases) {
      const result = await cli(argv);
      assert.equal(result.code, 2, `${JSON.stringify(argv)} should exit 2; stderr: ${result.stderr}`);
      assert.equal(result.stdout, "", JSON.stringify(argv));
      assert.equal(lines(result.stderr).length, 1, `${JSON.stringify(argv)}: ${result.stderr}`);
      assert.match(result.stderr, /^durastream: /);
    }
  });

  it("--help works on the program and every command", async () => {
    const top = await cli(["--help"]);
    assert.equal(top.code, 0);
    const commands = ["ls", "create", "delete", "config", "append", "read", "tail", "inspect", "bench"];
    for (const command of commands) assert.match(top.stdout, new RegExp(`^  ${command} `, "m"));
    for (const command of commands) {
      const help = await cli([command, "--help"]);
      assert.equal(help.code, 0, command);
      assert.match(help.stdout, new RegExp(`^Usage: durastream ${command} `), command);
      assert.match(help.stdout, /Example/, `${command} --help shows an example`);
      // Issue 13.14: commander prints each option's default; a description must not say it again.
      for (const block of help.stdout.split(/\n(?= {2}-)/)) {
        assert.ok((block.match(/default/g) ?? []).length <= 1, `${command} --help says a default twice:\n${block}`);
      }
    }
    const version = await cli(["--version"]);
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  });
});

async function collectTexts(session: AsyncIterable<{ body: Uint8Array }>): Promise<string[]> {
  const out: string[] = [];
  for await (const record of session) out.push(recordText(record));
  return out;
}
