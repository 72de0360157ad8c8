/**
 * Behaviour tests of `stream.read()` without follow, through the public API: where a read starts
 * (seqNum, timestamp, tailOffset, the default tail, clamp and UnwrittenError), count and byte
 * limits, `until`, option validation, and visibility (only durable records, visible to every
 * reader as soon as they are acknowledged), and what a session that decodes records ahead of its
 * consumer must still judge per record (trim, close, abort, limits, concurrent next() calls, body
 * ownership). s2-lite's data_plane/read.rs checklist (research brief section 11), with docs/design.md
 * winning: a read that starts at the tail and does not follow yields nothing instead of failing
 * with Unwritten, and the default start is the tail.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { LocalStore, UnwrittenError, meteredBytes, openLog, type Stream } from "../../src/index.js";
import {
  HoldingStore,
  T0,
  appendEach,
  bodies,
  collect,
  readRejectsWithCode,
  recordOfMeteredSize,
  seqNums,
  settle,
  texts,
  withLog,
  withStream,
} from "../helpers/stream-helpers.js";

/** Appends records with the given client timestamps (all below T0, so none is capped), bodies "<ts><suffix>". */
async function appendAt(s: Stream, timestamps: [number, string?][]): Promise<void> {
  await s.append(timestamps.map(([timestamp, suffix = ""]) => ({ body: `${timestamp}${suffix}`, timestamp })));
}

describe("read: where it starts", () => {
  it("reads from a seqNum to the tail, in order", () =>
    withStream(async (s) => {
      await s.append(bodies(10));
      const records = await collect(s.read({ from: { seqNum: 3 } }));
      assert.deepEqual(seqNums(records), [3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(texts(records), ["r3", "r4", "r5", "r6", "r7", "r8", "r9"]);
    }));

  it("starts at the tail by default, so a plain read() yields nothing", () =>
    withStream(async (s) => {
      await s.append(bodies(3));
      const session = s.read();
      assert.deepEqual(await collect(session), []);
      assert.deepEqual((await session.caughtUp()).seqNum, 3);
    }));

  it("yields nothing, without an error, for a read that starts at the tail and does not follow", () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(2));
      assert.deepEqual(await collect(s.read({ from: { seqNum: 2 } })), []);
      assert.deepEqual(await collect(s.read({ from: { tailOffset: 0 }, limit: { count: 10 } })), []);
      const session = s.read({ from: { seqNum: ack.end.seqNum } });
      assert.deepEqual(await collect(session), []);
      assert.deepEqual(await session.caughtUp(), ack.end);
    }));

  it("fails a seqNum past the tail with unwritten carrying the tail", () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(2));
      const error = await readRejectsWithCode(s.read({ from: { seqNum: 100 } }), "unwritten");
      assert.ok(error instanceof UnwrittenError);
      assert.deepEqual(error.tail, ack.end);
      assert.deepEqual((await readRejectsWithCode(s.read({ from: { seqNum: 3 } }), "unwritten")).tail, ack.end);
    }));

  it("starts a seqNum past the tail at the tail with clamp, yielding nothing", () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(2));
      const session = s.read({ from: { seqNum: 100 }, clamp: true });
      assert.deepEqual(await collect(session), []);
      assert.deepEqual(await session.caughtUp(), ack.end);
    }));

  it("fails a timestamp past the last record's with unwritten carrying the tail, and yields nothing with clamp", () =>
    withStream(async (s) => {
      await appendAt(s, [[1000], [2000]]);
      const error = await readRejectsWithCode(s.read({ from: { timestamp: 2001 } }), "unwritten");
      assert.deepEqual(error.tail, { seqNum: 2, timestamp: 2000 });
      assert.deepEqual(await collect(s.read({ from: { timestamp: 2001 }, clamp: true })), []);
      assert.deepEqual(texts(await collect(s.read({ from: { timestamp: 2000 } }))), ["2000"]);
    }));

  it("reads nothing from seqNum 0 of an empty stream, and fails seqNum 1 with unwritten at tail 0", () =>
    withStream(async (s) => {
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 } })), []);
      assert.deepEqual(await collect(s.read({ from: { timestamp: 0 } })), []);
      const error = await readRejectsWithCode(s.read({ from: { seqNum: 1 } }), "unwritten");
      assert.deepEqual(error.tail, { seqNum: 0, timestamp: 0 });
    }));

  it("reads the last n records with tailOffset n, and all of them when n exceeds the tail", () =>
    withStream(async (s) => {
      await s.append(bodies(5));
      assert.deepEqual(texts(await collect(s.read({ from: { tailOffset: 2 } }))), ["r3", "r4"]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { tailOffset: 50 } }))), [0, 1, 2, 3, 4]);
    }));

  it("starts a timestamp read at the first record with timestamp >= T, including every duplicate", () =>
    withStream(async (s) => {
      await appendAt(s, [[1000], [2000, "a"], [2000, "b"], [3000]]);
      assert.deepEqual(texts(await collect(s.read({ from: { timestamp: 2000 } }))), ["2000a", "2000b", "3000"]);
      assert.deepEqual(texts(await collect(s.read({ from: { timestamp: 1500 } }))), ["2000a", "2000b", "3000"]);
      assert.deepEqual(texts(await collect(s.read({ from: { timestamp: 2001 } }))), ["3000"]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { timestamp: 0 } }))), [0, 1, 2, 3]);
    }));

  it("keeps a timestamp seek inside its own stream when another stream has later timestamps", () =>
    withLog(async ({ log }) => {
      const a = await log.openStream("a", { createIfMissing: true });
      const b = await log.openStream("b", { createIfMissing: true });
      await appendAt(a, [[1000], [2000]]);
      await appendAt(b, [[5000]]);
      assert.deepEqual(await collect(a.read({ from: { timestamp: 3000 }, clamp: true })), []);
      assert.deepEqual(texts(await collect(b.read({ from: { timestamp: 3000 } }))), ["5000"]);
    }));
});

describe("read: limits", () => {
  // Every record below is "ab": 8 + 2 = 10 metered bytes.
  const tenRecords = () => Array.from({ length: 10 }, () => ({ body: "ab" }));

  it("stops after limit.count records", () =>
    withStream(async (s) => {
      await s.append(tenRecords());
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 0 }, limit: { count: 5 } }))), [0, 1, 2, 3, 4]);
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 }, limit: { count: 0 } })), []);
    }));

  it("returns exactly the records that fit limit.bytes when they fit exactly", () =>
    withStream(async (s) => {
      await s.append(tenRecords());
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 30 } }))).length, 3);
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 29 } }))).length, 2);
    }));

  it("returns nothing when limit.bytes is smaller than the first record", () =>
    withStream(async (s) => {
      await s.append(tenRecords());
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 9 } })), []);
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 0 } })), []);
    }));

  it("counts headers in limit.bytes with the metered formula", () =>
    withStream(async (s) => {
      const record = { body: "xyz", headers: [["key", "value"]] as [string, string][] };
      assert.equal(meteredBytes(record), 8 + 2 + 3 + 5 + 3);
      await s.append([record, record]);
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 42 } }))).length, 2);
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { bytes: 41 } }))).length, 1);
    }));

  it("stops at whichever of count and bytes is reached first", () =>
    withStream(async (s) => {
      await s.append(tenRecords());
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { count: 2, bytes: 1000 } }))).length, 2, "count wins");
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, limit: { count: 10, bytes: 25 } }))).length, 2, "bytes win");
    }));

  it("rejects caughtUp() when a limit ends the read before the tail", () =>
    withStream(async (s) => {
      await s.append(tenRecords());
      const session = s.read({ from: { seqNum: 0 }, limit: { count: 2 } });
      await collect(session);
      await assert.rejects(session.caughtUp(), { code: "closed" });
    }));
});

describe("read: until", () => {
  const fourRecords: [number, string?][] = [[1000], [2000, "a"], [2000, "b"], [3000]];

  it("excludes every record at or after until (500: none; 2000: only 1000; 5000: all)", () =>
    withStream(async (s) => {
      await appendAt(s, fourRecords);
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 }, until: 500 })), []);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 }, until: 2000 }))), ["1000"]);
      assert.equal((await collect(s.read({ from: { seqNum: 0 }, until: 5000 }))).length, 4);
    }));

  it("reads a timestamp range [from, until)", () =>
    withStream(async (s) => {
      await appendAt(s, [[1000], [2000, "a"], [2000, "b"], [2500], [3500], [4500], [5000]]);
      assert.deepEqual(texts(await collect(s.read({ from: { timestamp: 2000 }, until: 4500 }))), ["2000a", "2000b", "2500", "3500"]);
    }));

  it("combines until with count and byte limits: the first bound reached ends the read", () =>
    withStream(async (s) => {
      await appendAt(s, fourRecords); // metered 12, 13, 13, 12
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 }, until: 5000, limit: { count: 2 } }))), ["1000", "2000a"]);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 }, until: 3000, limit: { count: 10 } }))), ["1000", "2000a", "2000b"]);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 }, until: 5000, limit: { bytes: 25 } }))), ["1000", "2000a"]);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 1 }, until: 2000, limit: { count: 5 } }))), []);
    }));
});

describe("read: records returned", () => {
  it("returns bodies the caller owns: changing one does not change what a later read returns", () =>
    withStream(async (s) => {
      await s.append([{ body: "keep" }]);
      const [first] = await collect(s.read({ from: { seqNum: 0 } }));
      first!.body.fill(0);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["keep"]);
    }));

  it("reads records across many appends and more than one read batch (1200 records)", () =>
    withStream(async (s) => {
      for (let i = 0; i < 3; i++) await s.append(bodies(400, `b${i}-`));
      const records = await collect(s.read({ from: { seqNum: 0 } }));
      assert.deepEqual(seqNums(records), Array.from({ length: 1200 }, (_, i) => i));
      assert.equal(texts(records)[1034], "b2-234");
    }));
});

describe("read: invalid options", () => {
  const bad: [string, unknown][] = [
    ["options that are not an object", 5],
    ["an unknown option", { form: { seqNum: 0 } }],
    ["a from with two kinds", { from: { seqNum: 0, timestamp: 0 } }],
    ["an empty from", { from: {} }],
    ["a from with an unknown kind", { from: { offset: 1 } }],
    ["a negative from.seqNum", { from: { seqNum: -1 } }],
    ["a fractional from.timestamp", { from: { timestamp: 1.5 } }],
    ["a negative limit.count", { limit: { count: -1 } }],
    ["an unknown limit property", { limit: { records: 1 } }],
    ["a limit.bytes that is a string", { limit: { bytes: "10" } }],
    ["a negative until", { until: -5 }],
    ["a from.timestamp at or after until", { from: { timestamp: 10 }, until: 10 }],
    ["a follow that is not a boolean", { follow: "yes" }],
    ["a clamp that is not a boolean", { clamp: 1 }],
    ["waitMs without follow", { waitMs: 10 }],
    ["waitMs past 2^31 - 1", { follow: true, waitMs: 2 ** 31 }],
    ["a signal that is not an AbortSignal", { signal: { aborted: false } }],
  ];
  for (const [what, options] of bad) {
    it(`fails the read with validation for ${what}, when iteration starts`, () =>
      withStream(async (s) => {
        await s.append(bodies(1));
        let session: ReturnType<Stream["read"]> | undefined;
        assert.doesNotThrow(() => (session = s.read(options as never)));
        await readRejectsWithCode(session!, "validation");
      }));
  }

  it("refuses to iterate one read session twice", () =>
    withStream(async (s) => {
      await s.append(bodies(1));
      const session = s.read({ from: { seqNum: 0 } });
      assert.equal((await collect(session)).length, 1);
      assert.throws(() => session[Symbol.asyncIterator](), { code: "closed" });
    }));
});

describe("read: visibility", () => {
  it("makes an acknowledged record visible at once to every reader and every handle of the stream", () =>
    withLog(async ({ log }) => {
      const writer = await log.openStream("s", { createIfMissing: true });
      const other = await log.openStream("s");
      for (let i = 0; i < 20; i++) {
        const ack = await writer.append([{ body: `v${i}` }]);
        assert.deepEqual(await other.checkTail(), ack.tail);
        const seen = await collect(other.read({ from: { seqNum: ack.start.seqNum } }));
        assert.deepEqual(texts(seen), [`v${i}`]);
      }
    }));

  it("shows readers nothing of an append until it is durable: tail, reads and timestamp seeks all wait for it", async () => {
    const store = new HoldingStore();
    await withLog(
      async ({ log }) => {
        const s = await log.openStream("s", { createIfMissing: true });
        await appendEach(s, 2);
        store.holdWal();
        let acked = false;
        const pending = s.append([{ body: "not yet" }]).then((ack) => {
          acked = true;
          return ack;
        });
        await store.whenHeld();
        await settle(3);
        assert.equal(acked, false, "the ack waits for the WAL object");
        assert.deepEqual((await s.checkTail()).seqNum, 2);
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["r0", "r1"]);
        await readRejectsWithCode(s.read({ from: { seqNum: 3 } }), "unwritten");
        store.release();
        const ack = await pending;
        assert.deepEqual(await s.checkTail(), ack.end);
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 2 } }))), ["not yet"]);
      },
      { store },
    );
  });

  it("reads a stream whose records were appended under a different ManualClock wall time (timestamps as stored)", () =>
    withStream(async (s, { clock }) => {
      await s.append([{ body: "a" }]);
      clock.setNowMs(T0 + 1);
      await s.append([{ body: "b" }]);
      assert.deepEqual((await collect(s.read({ from: { seqNum: 0 } }))).map((r) => r.timestamp), [T0, T0 + 1]);
    }));
});

/**
 * A session decodes a chunk of records ahead of its consumer (up to a few hundred); whatever can
 * change meanwhile must still be judged when each record is handed out, as if they were read
 * one by one.
 */
describe("read: records decoded ahead of the consumer", () => {
  it("hides records that a trim made unreadable after they were decoded", () =>
    withStream(async (s) => {
      await s.append(bodies(300));
      const iterator = s.read({ from: { seqNum: 0 } })[Symbol.asyncIterator]();
      for (let i = 0; i < 10; i++) assert.equal((await iterator.next()).value?.seqNum, i);
      await s.trim(200); // records 10..199 sit decoded in the session's current chunk
      const rest: number[] = [];
      for (let step = await iterator.next(); step.done !== true; step = await iterator.next()) rest.push(step.value.seqNum);
      assert.deepEqual(rest, [...Array.from({ length: 100 }, (_, i) => 200 + i), 300]);
    }));

  it("ends at once on close() or an abort, however many records are decoded", () =>
    withStream(async (s) => {
      await s.append(bodies(300));
      const session = s.read({ from: { seqNum: 0 } });
      const iterator = session[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.seqNum, 0);
      await session.close();
      assert.deepEqual(await iterator.next(), { value: undefined, done: true });
      const controller = new AbortController();
      const aborted = s.read({ from: { seqNum: 0 }, signal: controller.signal })[Symbol.asyncIterator]();
      assert.equal((await aborted.next()).value?.seqNum, 0);
      controller.abort();
      assert.deepEqual(await aborted.next(), { value: undefined, done: true });
    }));

  it("cuts limit.count and limit.bytes exactly inside a decoded chunk", () =>
    withStream(async (s) => {
      await s.append(Array.from({ length: 600 }, () => recordOfMeteredSize(20)));
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 0 }, limit: { count: 301 } }))), Array.from({ length: 301 }, (_, i) => i));
      assert.equal((await collect(s.read({ from: { seqNum: 10 }, limit: { bytes: 20 * 333 + 19 } }))).length, 333);
    }));

  it("answers next() calls made without waiting in call order, each with the next record", () =>
    withStream(async (s) => {
      await s.append(bodies(300));
      const iterator = s.read({ from: { seqNum: 0 } })[Symbol.asyncIterator]();
      const steps = await Promise.all(Array.from({ length: 302 }, () => iterator.next()));
      assert.deepEqual(
        steps.slice(0, 300).map((step) => step.value?.seqNum),
        Array.from({ length: 300 }, (_, i) => i),
      );
      assert.deepEqual(steps.slice(300), [
        { value: undefined, done: true },
        { value: undefined, done: true },
      ]);
    }));

  it("gives each record a body of its own: changing one changes no other record and no later read", () =>
    withStream(async (s) => {
      await s.append([{ body: "aaaa" }, { body: "bbbb", headers: [["h", "v"]] }, { body: "cccc" }]); // in the memtable
      const first = await collect(s.read({ from: { seqNum: 0 } }));
      first[0]!.body.fill(0x78);
      first[1]!.body.fill(0x78);
      first[1]!.headers[0]![1].fill(0x78);
      assert.deepEqual(texts(first), ["xxxx", "xxxx", "cccc"]);
      const again = await collect(s.read({ from: { seqNum: 0 } }));
      assert.deepEqual(texts(again), ["aaaa", "bbbb", "cccc"]);
      assert.deepEqual(again[1]!.headers.map(([name, value]) => [Buffer.from(name).toString(), Buffer.from(value).toString()]), [["h", "v"]]);
    }));

  it("gives each record read from SSTs a body of its own too, next to its neighbours' in the scan's copy of the block", () =>
    withStream(
      async (s, { log }) => {
        for (let i = 0; i < 20; i++) await s.append(Array.from({ length: 100 }, (_, j) => ({ body: `r${i * 100 + j}`.padEnd(100, ".") })));
        const getsBefore = log.metrics().engine.storeRequests.get;
        const first = await collect(s.read({ from: { seqNum: 0 } }));
        assert.ok(log.metrics().engine.storeRequests.get > getsBefore, "the read went to SSTs");
        for (const record of first) record.body.fill(0x78, 1);
        assert.ok(texts(first).every((text) => text === "r".padEnd(100, "x")));
        const again = await collect(s.read({ from: { seqNum: 0 } }));
        assert.deepEqual(texts(again), Array.from({ length: 2000 }, (_, i) => `r${i}`.padEnd(100, ".")));
      },
      { l0SstBytes: 16 * 1024 },
    ));
});

describe("read: bodies are the reader's own on a store that returns Buffers", () => {
  // Regression (issue 5 scan work): on LocalStore, whose GETs return Buffers, `bytes.slice()`
  // made views, not copies: a reader that changed a big body (> 16 KiB) changed the block cache
  // or the memtable, and the next read saw the change. Small and big bodies, from SSTs and from
  // a memtable rebuilt by WAL replay after a reopen.
  it("a reader that overwrites every body changes nothing the next read returns", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "durastream-alias-"));
    try {
      const store = new LocalStore(dir);
      const expected: string[] = [];
      const writer = await openLog({ store, l0SstBytes: 1024, flushIntervalMs: 0 });
      const ws = await writer.openStream("s", { createIfMissing: true });
      for (let i = 0; i < 24; i++) {
        const size = i % 2 === 0 ? 20_000 : 300;
        const body = Buffer.alloc(size, 65 + (i % 26)).toString("latin1");
        expected.push(body);
        await ws.append([{ body }]);
      }
      await writer.close();
      const log = await openLog({ store, l0SstBytes: 1024 * 1024 });
      try {
        const s = await log.openStream("s");
        for (let round = 0; round < 2; round++) {
          const records = await collect(s.read({ from: { seqNum: 0 } }));
          assert.deepEqual(records.map((r) => Buffer.from(r.body).toString("latin1")), expected, `round ${round}`);
          for (const record of records) record.body.fill(0);
        }
      } finally {
        await log.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("read: a long catch-up from SSTs (bulk scans, pooled readahead buffers)", () => {
  it("two readers in parallel keep every body while they read on: none changes, and the block cache is not filled", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "durastream-bulk-"));
    const count = 24_000;
    const bodyOf = (i: number): Buffer => {
      const body = Buffer.alloc(1024, i % 251);
      body.writeUInt32BE(i, 0);
      return body;
    };
    try {
      const writer = await openLog({ store: new LocalStore(dir), l0SstBytes: 16 * 1024 * 1024 });
      const ws = await writer.openStream("s", { createIfMissing: true });
      for (let i = 0; i < count; i += 1000) await ws.append(Array.from({ length: 1000 }, (_, j) => ({ body: bodyOf(i + j) })));
      await writer.close(); // an L0 of about 12 MiB, the rest in the WAL: each scan reads most of the L0 in 1 MiB GETs into its pool
      let sstBytes = 0;
      for (const name of await readdir(path.join(dir, "sst"))) sstBytes += (await stat(path.join(dir, "sst", name))).size;
      const log = await openLog({ store: new LocalStore(dir), readOnly: true });
      try {
        const s = await log.openStream("s");
        const sessions = [s.readBatches({ from: { seqNum: 0 } }), s.readBatches({ from: { seqNum: 0 } })].map((session) => session[Symbol.asyncIterator]());
        const kept: Uint8Array[][] = [[], []];
        for (let open = [true, true]; open[0] || open[1]; ) {
          // Both sessions read at once; the consumer keeps the bodies as handed out and lets I/O land.
          const steps = await Promise.all(sessions.map((session, i) => (open[i] ? session.next() : undefined)));
          steps.forEach((step, i) => {
            if (step?.done === true) open[i] = false;
            else if (step !== undefined) for (const record of step.value.records) kept[i]!.push(record.body);
          });
          await new Promise((resolve) => setImmediate(resolve));
        }
        for (const bodies of kept) {
          assert.equal(bodies.length, count);
          bodies.forEach((body, i) => assert.ok(Buffer.from(body).equals(bodyOf(i)), `record ${i}`));
        }
        // Each scan caches only its start (about 2 MiB of each SST), shared or not.
        const { cache, storeRequests } = log.metrics().engine;
        assert.ok(sstBytes > 10 * 1024 * 1024 && storeRequests.getBytes > sstBytes, `${storeRequests.getBytes} bytes read from ${sstBytes} of SSTs`);
        assert.ok(cache.bytes < 0.4 * sstBytes, `the catch-ups cached ${cache.bytes} of ${sstBytes} bytes`);
      } finally {
        await log.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
