/**
 * ReadSession against a scripted engine: what the public API cannot stage. A damaged record in
 * the middle of an engine chunk (the records before it are delivered, then the error), and a
 * catch-up scan that fails retryably mid-way (the session resumes after the last record it
 * decoded, without a gap or a duplicate), both with chunks much larger than one record, since
 * the session decodes a whole chunk before handing its records out.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Engine, ScannedEntry } from "../../src/engine/engine.js";
import { CorruptionError, SstCompactedAwayError } from "../../src/errors.js";
import { CATCH_UP_RESCAN_BYTES, MAX_FRUITLESS_SCAN_RESTARTS } from "../../src/limits.js";
import { encodeRecordValue } from "../../src/stream/record-format.js";
import { ReadSession, type StreamView } from "../../src/stream/read-session.js";
import { recordKey } from "../../src/stream/stream-keys.js";
import type { ReadRecord } from "../../src/stream/types.js";
import { ManualClock } from "../../src/util/clock.js";

const STREAM_ID = 7;
const T0 = 1_700_000_000_000;

function entry(seqNum: number, value = encodeRecordValue({ headers: [], body: Buffer.from(`r${seqNum}`) })): ScannedEntry {
  return { key: recordKey({ streamId: STREAM_ID, seqNum, timestamp: T0 + seqNum }), value, seq: seqNum + 1 };
}

/** An engine whose scans yield `script`'s chunks from the first one at or after the range start; an Error is thrown. */
function scriptedEngine(script: (ScannedEntry[] | Error)[]): { engine: Engine; scans: number } {
  const state = { scans: 0 };
  const engine = {
    sourcesToken: {},
    scanChunks(range: { start: Uint8Array }) {
      state.scans++;
      const steps = script.splice(0); // each step is played once, by the first scan that reaches it
      return (async function* () {
        for (const step of steps) {
          if (step instanceof Error) {
            script.push(...steps.slice(steps.indexOf(step) + 1));
            throw step;
          }
          const chunk = step.filter((e) => Buffer.compare(e.key, range.start) >= 0);
          if (chunk.length > 0) yield chunk;
        }
      })();
    },
  } as unknown as Engine;
  return {
    engine,
    get scans() {
      return state.scans;
    },
  };
}

/**
 * An engine whose scans yield `entries` from the range start, 4 at a time, and whose sources
 * change after every chunk read: `nextToken(chunksRead)` is the new sources token, and
 * `memtableLeftSince(token)` says whether a memtable of those sources was flushed since.
 */
function busyEngine(entries: ScannedEntry[], nextToken: (chunksRead: number) => object, memtableLeftSince: (token: object) => boolean): { engine: Engine; state: { scans: number; chunksRead: number } } {
  const state = { scans: 0, chunksRead: 0, token: nextToken(0) };
  const engine = {
    get sourcesToken() {
      return state.token;
    },
    memtableLeftSince,
    scanChunks(scanRange: { start: Uint8Array }) {
      state.scans++;
      const from = entries.filter((e) => Buffer.compare(e.key, scanRange.start) >= 0);
      return (async function* () {
        for (let at = 0; at < from.length; at += 4) {
          state.chunksRead++;
          state.token = nextToken(state.chunksRead);
          yield from.slice(at, at + 4);
        }
      })();
    },
  } as unknown as Engine;
  return { engine, state };
}

function session(engine: Engine, tailSeqNum: number): ReadSession {
  const view: StreamView = {
    streamId: STREAM_ID,
    name: "s",
    tail: { seqNum: tailSeqNum, timestamp: T0 + tailSeqNum - 1 },
    trimPoint: 0,
    subscribe: () => undefined,
    unsubscribe: () => undefined,
  };
  return new ReadSession(async () => ({ engine, clock: new ManualClock({ startMs: T0 }), view }), { from: { seqNum: 0 } });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe("ReadSession", () => {
  it("delivers the records of a chunk before a damaged one, then fails with corruption naming it", async () => {
    const chunk = range(0, 100).map((seqNum) => (seqNum === 60 ? entry(seqNum, Uint8Array.of(0x09, 0x00)) : entry(seqNum)));
    const { engine } = scriptedEngine([chunk]);
    const seen: ReadRecord[] = [];
    await assert.rejects(
      (async () => {
        for await (const record of session(engine, 100)) seen.push(record);
      })(),
      (error: unknown) => error instanceof CorruptionError && error.key === 'stream "s" record 60' && /unknown record format version 9/.test(error.message),
    );
    assert.deepEqual(
      seen.map((record) => record.seqNum),
      range(0, 60),
    );
    assert.equal(Buffer.from(seen[59]!.body).toString(), "r59");
  });

  it("resumes a scan that failed retryably after the last record decoded: no gap, no duplicate", async () => {
    const stale = new SstCompactedAwayError("sst/1", new Error("not found"));
    const scripted = scriptedEngine([range(0, 300).map((n) => entry(n)), stale, range(300, 500).map((n) => entry(n))]);
    const read = session(scripted.engine, 500);
    const seqNums: number[] = [];
    for await (const record of read) seqNums.push(record.seqNum);
    assert.deepEqual(seqNums, range(0, 500));
    assert.equal(scripted.scans, 2);
    assert.deepEqual(await read.caughtUp(), { seqNum: 500, timestamp: T0 + 499 });
  });

  it("starts a long catch-up scan again from where it is once the engine's sources changed, past CATCH_UP_RESCAN_BYTES: no gap, no duplicate", async () => {
    const body = Buffer.alloc(256 * 1024, 7);
    const entries = range(0, 64).map((n) => entry(n, encodeRecordValue({ headers: [], body })));
    // Chunks of 4 records (1 MiB); the sources change after every chunk read (a busy writer),
    // never with a memtable flushed (a compaction, say).
    const { engine, state } = busyEngine(entries, () => ({}), () => false);
    const seqNums: number[] = [];
    for await (const record of session(engine, 64)) seqNums.push(record.seqNum);
    assert.deepEqual(seqNums, range(0, 64));
    const perScanBytes = CATCH_UP_RESCAN_BYTES;
    assert.equal(state.scans, Math.ceil((64 * body.length) / perScanBytes), "one scan per CATCH_UP_RESCAN_BYTES of values");
    assert.equal(state.chunksRead, 16, "no chunk read twice");

    // Sources that never change: one scan, however long.
    const steady = scriptedEngine([entries]);
    const all: number[] = [];
    for await (const record of session(steady.engine, 64)) all.push(record.seqNum);
    assert.deepEqual(all, range(0, 64));
    assert.equal(steady.scans, 1);
  });

  it("starts a catch-up scan again at once when a memtable it started on was flushed, however little it read: no gap, no duplicate", async () => {
    const entries = range(0, 64).map((n) => entry(n));
    // Chunks of 4 records; the sources change after every chunk (a new token), and a memtable
    // is flushed when chunks 5 and 10 are read: a token names sources from before a flush or not.
    let flushes = 0;
    const { engine, state } = busyEngine(
      entries,
      (chunksRead) => {
        if (chunksRead === 5 || chunksRead === 10) flushes++;
        return { flushes };
      },
      (token) => (token as { flushes: number }).flushes < flushes,
    );
    const seqNums: number[] = [];
    for await (const record of session(engine, 64)) seqNums.push(record.seqNum);
    assert.deepEqual(seqNums, range(0, 64));
    assert.equal(state.scans, 3, "a new scan after each flush, none for the other changes (64 small records, far below CATCH_UP_RESCAN_BYTES)");
    assert.equal(state.chunksRead, 16, "no chunk read twice");
  });

  it("goes on through any number of retryable failures while each restart delivers records, and fails after MAX_FRUITLESS_SCAN_RESTARTS restarts in a row that deliver none", async () => {
    const stale = () => new SstCompactedAwayError("sst/1", new Error("not found"));
    // A long catch-up behind a busy writer: a compaction under it after every 10 records, 50 times.
    const steps: (ScannedEntry[] | Error)[] = [];
    for (let from = 0; from < 500; from += 10) steps.push(range(from, from + 10).map((n) => entry(n)), stale());
    const progressing = scriptedEngine(steps);
    const seqNums: number[] = [];
    for await (const record of session(progressing.engine, 500)) seqNums.push(record.seqNum);
    assert.deepEqual(seqNums, range(0, 500));
    assert.equal(progressing.scans, 50); // the last failure is never met: the last scan reaches the tail first

    // The first failure comes after 10 records; the ones after it deliver none.
    const stuck = scriptedEngine([range(0, 10).map((n) => entry(n)), ...Array.from({ length: MAX_FRUITLESS_SCAN_RESTARTS + 1 }, stale), range(10, 20).map((n) => entry(n))]);
    const got: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const record of session(stuck.engine, 20)) got.push(record.seqNum);
      })(),
      { code: "storage" },
    );
    assert.deepEqual(got, range(0, 10));
  });
});
