/**
 * Issue 6, first required test: a writer process appends continuously to two streams, with L0
 * flushes, compactions, WAL GC and SST GC running at small sizes, while two reader processes
 * follow both streams from seqNum 0 through read-only Logs. Each reader must see exactly the
 * durable records, in order, with no gap and no duplicate; every acked record is durable.
 *
 *   writer child (follow-writer.ts)  ── "a <stream> <start> <end>" per ack, metrics at the end
 *   reader A (follow-reader.ts)      ── opens before the first append: follows live from 0
 *   reader B                         ── opens once the writer is well under way: catches up
 *                                       from storage (SSTs that vanish under it), then follows
 *   parent                           ── after the writer closed: one read-only read of every
 *                                       stream (the durable truth), "expect" to the readers
 *
 * On LocalStore and on S3Store against the local gateway (skipped loudly without S3_ENDPOINT).
 * The writer runs until it compacted READERS_COMPACTIONS_AFTER_B times (default 6) after reader
 * B started following, so each reader goes through many L0 flushes, compactions and GCs however
 * fast or slow the machine and the store are.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openLog, recordText } from "../../src/index.js";
import { REPO_ROOT, spawnTsx, type TsxChild } from "../helpers/child-process.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { createTestBucket, LOCAL_WAL_MODES, openStoreSpec, removeTestBucket, s3ConnectionFromEnv, testWalMode, useWalMode } from "../helpers/test-stores.js";
import { FOLLOW_STREAMS, bodyOf, parseAcks, type FollowStream } from "./fixtures/follow-workload.js";

const WRITER = path.join(REPO_ROOT, "tests/readers/fixtures/follow-writer.ts");
const READER = path.join(REPO_ROOT, "tests/readers/fixtures/follow-reader.ts");
/** The writer stops once it compacted this many times after reader B started following... */
const COMPACTIONS_AFTER_B = Number(process.env.READERS_COMPACTIONS_AFTER_B ?? 6);
/** ...or after this long, or after this many appends per stream, whichever comes first. */
const MAX_WRITE_MS = 30_000;
const MAX_APPENDS = 100_000;
/** Manifests each reader must adopt while it follows (see the end of runFollowScenario). */
const MIN_MANIFESTS_ADOPTED = 3;
const POLL_INTERVAL_MS = 20;
/** Reader B opens when the writer acked this many records of "alpha". */
const START_B_AT_RECORD = 60;
/** A reader session ends after this long without a record (only if it stalled: the parent's "expect" ends it normally). */
const READER_IDLE_MS = 15_000; // a loaded 2-core machine stalled a reader process for over 4 s

interface WriterMetrics {
  l0Flushes: number;
  compactions: number;
  manifestWrites: number;
  walFlushes: number;
  walFlushBytes: number;
  objectsDeleted: number;
  deletes: Record<string, number>;
}

interface ReaderMetrics {
  manifestsAdopted: number;
  followErrors: number;
  maxUnflushedBytes: number;
  maxFrozenMemtables: number;
  maxCacheBytes: number;
  /** SST GETs that found nothing: catch-up reads that raced the writer's compaction and GC. */
  sstNotFound: number;
}

describe("reader processes follow a writer process", () => {
  for (const walMode of LOCAL_WAL_MODES) it(`on LocalStore, WAL ${walMode}: each reader sees exactly the durable records of every stream, in order, once, through many WAL GCs and compactions`, { timeout: 60_000 }, async () => {
    useWalMode(walMode);
    const root = await makeTempDir("readers-follow");
    await runFollowScenario(`file:${root}`);
  });

  const connection = s3ConnectionFromEnv();
  if (connection === undefined) {
    it("on S3Store", { skip: "S3_ENDPOINT IS NOT SET: read-only followers WERE NOT TESTED ON S3 (`bash scripts/s3-test-server.sh env` prints it)" }, () => {});
    return;
  }
  describe("on S3Store (local gateway)", () => {
    let bucket = "";
    before(async () => {
      bucket = await createTestBucket(connection, "readers");
    });
    after(() => removeTestBucket(connection, bucket));
    it("each reader sees exactly the durable records of every stream, in order, once, through many WAL GCs and compactions", { timeout: 60_000 }, async () => {
      await runFollowScenario(`s3:${bucket}/follow`);
    });
  });
});

async function runFollowScenario(spec: string): Promise<void> {
  const writer = spawnTsx(WRITER, [spec, String(MAX_WRITE_MS), String(MAX_APPENDS)]);
  await writer.waitForLine((line) => line === "ready" || line.startsWith("x "));
  failOnChildError(writer, "writer");
  const readerA = spawnTsx(READER, [spec, String(POLL_INTERVAL_MS), String(READER_IDLE_MS)]);
  const readerB = spawnTsx(READER, [spec, String(POLL_INTERVAL_MS), String(READER_IDLE_MS)]);
  await Promise.all([readerA, readerB].map((reader) => reader.waitForLine((line) => line === "loaded")));
  readerA.send("open");
  await readerA.waitForLine((line) => line === "following" || line.startsWith("x "));
  failOnChildError(readerA, "reader A");
  writer.send("go");
  // Reader B opens once the writer has gone through several L0 flushes and compactions.
  await writer.waitForLine((line) => line.startsWith("a alpha ") && Number(line.split(" ")[3]) >= START_B_AT_RECORD);
  readerB.send("open");
  await readerB.waitForLine((line) => line === "following" || line.startsWith("x "));
  failOnChildError(readerB, "reader B");
  // Run until the writer compacted a few more times while both readers follow.
  const compactionsAtB = lastProgress(writer.lines).compactions;
  await writer.waitForLine((line) => line.startsWith("p ") && Number(line.split(" ")[2]) >= compactionsAtB + COMPACTIONS_AFTER_B);
  // ... and until each reader adopted a few manifests: a reader starved of CPU on a loaded machine
  // polls rarely and adopts the newest manifest of several at once, so it takes more of the
  // writer's run (a reader that never adopts one fails here, when the writer ends: MAX_APPENDS).
  for (const reader of [readerA, readerB]) {
    await reader.waitForLine((line) => line.startsWith("x ") || (line.startsWith("adopted ") && Number(line.split(" ")[1]) >= MIN_MANIFESTS_ADOPTED));
  }
  writer.send("stop");

  const writerExit = await writer.exited;
  failOnChildError(writer, "writer");
  assert.equal(writerExit.code, 0, `the writer failed; stderr:\n${writer.stderr()}`);
  const acks = parseAcks(writer.lines);
  const writerMetrics = parseMetrics<WriterMetrics>(writer.lines, "writer");

  const durable = await readDurable(spec);
  for (const stream of FOLLOW_STREAMS) {
    checkAcksAgainstDurable(stream, acks[stream], durable[stream]);
    readerA.send(`expect ${stream} ${durable[stream].length}`);
    readerB.send(`expect ${stream} ${durable[stream].length}`);
  }
  const readers = { A: readerA, B: readerB };
  const readerMetrics: Record<string, ReaderMetrics> = {};
  for (const [name, reader] of Object.entries(readers)) {
    const exit = await reader.exited;
    failOnChildError(reader, `reader ${name}`);
    assert.equal(exit.code, 0, `reader ${name} failed; stderr:\n${reader.stderr()}`);
    const got = parseRecords(reader.lines);
    for (const stream of FOLLOW_STREAMS) {
      assertSameRecords(got[stream], durable[stream], `reader ${name}, stream ${stream}`);
    }
    readerMetrics[name] = parseMetrics<ReaderMetrics>(reader.lines, `reader ${name}`);
  }

  const summary = { spec: spec.split(":")[0], records: Object.fromEntries(FOLLOW_STREAMS.map((s) => [s, durable[s].length])), writer: writerMetrics, readers: readerMetrics };
  console.log(`follow-processes: ${JSON.stringify(summary)}`);
  // The run must have exercised what the test claims, or its pass means nothing.
  assert.ok(writerMetrics.l0Flushes >= 10, `only ${writerMetrics.l0Flushes} L0 flushes`);
  assert.ok(writerMetrics.compactions >= 3, `only ${writerMetrics.compactions} compactions`);
  // The segment WAL writes no WAL objects but fences; its segments are recycled instead.
  if (!spec.startsWith("file:") || testWalMode() === "objects") {
    assert.ok((writerMetrics.deletes.wal ?? 0) >= 10, `only ${writerMetrics.deletes.wal ?? 0} WAL objects collected`);
  }
  assert.ok((writerMetrics.deletes.sst ?? 0) >= 3, `only ${writerMetrics.deletes.sst ?? 0} SSTs collected`);
  // A reader must adopt manifests: to survive WAL GC (object WAL), and to let go of memtables as
  // small as the writer's (follow-reader.ts) while it tails segments. Beside a segment WAL it lists
  // the manifests at every poll (wal-follower.ts): before, at most every 5 s, and a reader whose
  // next manifest ids were collected adopted none in a 3-second run (0-2 here, 6-14 after).
  for (const [name, metrics] of Object.entries(readerMetrics)) {
    assert.ok(metrics.manifestsAdopted >= MIN_MANIFESTS_ADOPTED, `reader ${name} adopted only ${metrics.manifestsAdopted} manifests`);
    // Memory is reported, not asserted, here: a reader's memtables hold the writer's unflushed
    // bytes plus whatever arrived during its current poll, and a reader starved of CPU on a busy
    // machine polls long. read-only-follow.test.ts checks the bound on a manual clock.
  }
}

/** The writer's last progress line: L0 flushes and compactions so far. */
function lastProgress(lines: readonly string[]): { l0Flushes: number; compactions: number } {
  const line = lines.findLast((l) => l.startsWith("p "));
  const [, l0Flushes, compactions] = (line ?? "p 0 0").split(" ");
  return { l0Flushes: Number(l0Flushes), compactions: Number(compactions) };
}

function failOnChildError(child: TsxChild, name: string): void {
  const error = child.lines.find((line) => line.startsWith("x "));
  assert.equal(error, undefined, `${name} reported an error: ${error}\nstderr:\n${child.stderr()}`);
}

type PerStream<T> = Record<FollowStream, T[]>;

function perStream<T>(): PerStream<T> {
  return { alpha: [], beta: [] };
}

function parseRecords(lines: readonly string[]): PerStream<string> {
  const records = perStream<string>();
  for (const line of lines) {
    const [kind, stream, seqNum, body] = line.split(" ");
    if (kind === "r") records[stream as FollowStream].push(`${seqNum}:${body}`);
  }
  return records;
}

function parseMetrics<T>(lines: readonly string[], name: string): T {
  const line = lines.find((l) => l.startsWith("m "));
  assert.ok(line !== undefined, `${name} printed no metrics`);
  return JSON.parse(line.slice(2)) as T;
}

/** Every stream read whole through a fresh read-only log: what the store holds, as "seqNum:body". */
async function readDurable(spec: string): Promise<PerStream<string>> {
  const store = openStoreSpec(spec);
  const log = await openLog({ store, readOnly: true });
  const durable = perStream<string>();
  try {
    for (const stream of FOLLOW_STREAMS) {
      const handle = await log.openStream(stream);
      for await (const record of handle.read({ from: { seqNum: 0 } })) durable[stream].push(`${record.seqNum}:${recordText(record)}`);
    }
  } finally {
    await log.close();
    await store.close?.();
  }
  return durable;
}

function checkAcksAgainstDurable(stream: FollowStream, acks: { start: number; end: number }[], durable: string[]): void {
  assert.ok(acks.length >= 20, `${stream}: only ${acks.length} appends acked`);
  let position = 0;
  for (const ack of acks) {
    assert.equal(ack.start, position, `${stream}: acks are not contiguous`);
    position = ack.end;
  }
  // Every acked record is durable; the store holds the workload's records and nothing else.
  assert.ok(durable.length >= position, `${stream}: ${position} records acked, ${durable.length} durable`);
  durable.forEach((record, seqNum) => assert.equal(record, `${seqNum}:${bodyOf(stream, seqNum)}`, `${stream}: durable record ${seqNum}`));
}

function assertSameRecords(got: string[], durable: string[], context: string): void {
  for (let i = 0; i < Math.min(got.length, durable.length); i++) {
    if (got[i] !== durable[i]) assert.fail(`${context}: record #${i} is ${got[i]}, expected ${durable[i]} (a gap, a duplicate or a reorder)`);
  }
  assert.equal(got.length, durable.length, `${context}: got ${got.length} records, ${durable.length} are durable (last got: ${got.at(-1)})`);
}
