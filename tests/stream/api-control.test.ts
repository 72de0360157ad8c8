/**
 * Behaviour tests of the control plane and the stream lifecycle through the public API:
 * create/open/reconfigure/delete/list streams, stream-name limits, trim (unreadable at once,
 * removed by compaction later), retention on a ManualClock, reopening a log, a closed log,
 * openLog options, errors, metrics and health. s2-lite's control_plane/stream.rs checklist and
 * section 5 (research brief), with docs/design.md winning: stream ids are allocated, so a recreated
 * stream never sees its predecessor's records, and trimmed or expired records are never returned.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ClosedError,
  DEFAULT_INFLIGHT_BYTES,
  DEFAULT_RETENTION_AGE_SECONDS,
  DurastreamError,
  FaultyStore,
  MAX_LIST_STREAMS_LIMIT,
  MAX_STREAM_NAME_BYTES,
  ManualClock,
  MemoryStore,
  StreamExistsError,
  StreamNotFoundError,
  inspectStore,
  openLog,
  openStream,
  type ErrorCode,
  type Log,
} from "../../src/index.js";
import {
  HoldingStore,
  T0,
  appendEach,
  assertEverythingClosed,
  bodies,
  collect,
  consume,
  openTestLog,
  readRejectsWithCode,
  rejectsWithCode,
  seqNums,
  settle,
  storedBytes,
  texts,
  withLog,
  withStream,
} from "../helpers/stream-helpers.js";

const DAY_MS = 24 * 60 * 60 * 1000;

describe("streams: create and open", () => {
  it("creates a stream with the default config and reports when it was created", () =>
    withLog(async ({ log }) => {
      const info = await log.createStream("orders");
      assert.deepEqual(info, {
        name: "orders",
        createdAtMs: T0,
        // A durable log keeps its records unless told otherwise: retention defaults to infinite
        // (DEFAULT_RETENTION_AGE_SECONDS is S2's 7 days, for servers of the S2 API).
        config: { retention: "infinite", timestamping: { mode: "client-prefer", uncapped: false } },
      });
      assert.equal(DEFAULT_RETENTION_AGE_SECONDS, 7 * 24 * 60 * 60);
    }));

  it("fails createStream of an existing name with stream_exists", () =>
    withLog(async ({ log }) => {
      await log.createStream("orders");
      const error = await rejectsWithCode(log.createStream("orders"), "stream_exists");
      assert.ok(error instanceof StreamExistsError);
      assert.equal(error.stream, "orders");
    }));

  it("fails openStream of a missing stream with stream_not_found, and creates it with createIfMissing", () =>
    withLog(async ({ log }) => {
      const error = await rejectsWithCode(log.openStream("nope"), "stream_not_found");
      assert.ok(error instanceof StreamNotFoundError);
      const s = await log.openStream("nope", { createIfMissing: true, config: { retention: "infinite" } });
      assert.equal(s.name, "nope");
      assert.deepEqual((await log.listStreams()).map((i) => [i.name, i.config.retention]), [["nope", "infinite"]]);
    }));

  it("applies openStream's config only when it creates the stream", () =>
    withLog(async ({ log }) => {
      await log.createStream("s", { timestamping: { mode: "arrival" } });
      await log.openStream("s", { createIfMissing: true, config: { timestamping: { mode: "client-require" } } });
      assert.equal((await log.listStreams())[0]!.config.timestamping.mode, "arrival");
    }));

  it("creates a stream once when many openStream(createIfMissing) calls race, and they share its records", () =>
    withLog(async ({ log }) => {
      const handles = await Promise.all(Array.from({ length: 5 }, () => log.openStream("shared", { createIfMissing: true })));
      await Promise.all(handles.map((h, i) => h.append([{ body: `h${i}` }])));
      assert.equal((await log.listStreams()).length, 1);
      assert.equal((await handles[0]!.checkTail()).seqNum, 5);
    }));

  it(
    "refuses openStream options it does not know, like the other option objects",
    () =>
      withLog(async ({ log }) => {
        await rejectsWithCode(log.openStream("s", { createIfMising: true } as never), "validation");
        await rejectsWithCode(log.openStream("s", { createIfMissing: "yes" } as never), "validation");
      }),
  );
});

describe("streams: reconfigure", () => {
  it("replaces the fields given and keeps the others, in the result and in listStreams", () =>
    withLog(async ({ log }) => {
      await log.createStream("s", { timestamping: { uncapped: true } });
      const info = await log.reconfigureStream("s", { retention: { ageSeconds: 60 }, timestamping: { mode: "arrival" } });
      const expected = { retention: { ageSeconds: 60 }, timestamping: { mode: "arrival", uncapped: true } };
      assert.deepEqual(info.config, expected);
      assert.deepEqual((await log.listStreams())[0]!.config, expected);
      assert.deepEqual((await log.reconfigureStream("s", {})).config, expected, "an empty patch changes nothing");
    }));

  it("applies a timestamping mode change to the next appends of handles already open", () =>
    withStream(async (s, { log, clock }) => {
      await s.append([{ body: "free" }]);
      await log.reconfigureStream("s", { timestamping: { mode: "client-require" } });
      await rejectsWithCode(s.append([{ body: "no timestamp" }]), "validation");
      await log.reconfigureStream("s", { timestamping: { mode: "arrival" } });
      clock.setNowMs(T0 + 10);
      assert.equal((await s.append([{ body: "arrival", timestamp: 5 }])).start.timestamp, T0 + 10);
    }));

  it("applies a retention change to records appended afterwards, not to those already stored", () =>
    withStream(
      async (s, { log, clock }) => {
        await s.append([{ body: "kept an hour" }]);
        await log.reconfigureStream("s", { retention: { ageSeconds: 10 } });
        await s.append([{ body: "kept 10 s" }]);
        clock.setNowMs(T0 + 11_000);
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["kept an hour"]);
      },
      { config: { retention: { ageSeconds: 3600 } } },
    ));

  it("fails to reconfigure a missing stream with stream_not_found, and a bad patch with validation", () =>
    withLog(async ({ log }) => {
      await rejectsWithCode(log.reconfigureStream("nope", { retention: "infinite" }), "stream_not_found");
      await log.createStream("s");
      await rejectsWithCode(log.reconfigureStream("s", { retention: { ageSeconds: 0 } }), "validation");
      await rejectsWithCode(log.reconfigureStream("s", { timestamping: { mode: "server" as never } }), "validation");
      await rejectsWithCode(log.reconfigureStream("s", { retention: "forever" as never }), "validation");
      await rejectsWithCode(log.reconfigureStream("s", { deleteOnEmpty: true } as never), "validation");
    }));
});

describe("streams: delete", () => {
  it("fails every call of an old handle with stream_not_found once its stream is deleted", () =>
    withStream(async (s, { log }) => {
      await s.append(bodies(3));
      await log.deleteStream("s");
      await rejectsWithCode(s.append([{ body: "x" }]), "stream_not_found");
      await rejectsWithCode(s.checkTail(), "stream_not_found");
      await readRejectsWithCode(s.read({ from: { seqNum: 0 } }), "stream_not_found");
      await rejectsWithCode(log.openStream("s"), "stream_not_found");
      assert.deepEqual(await log.listStreams(), []);
    }));

  it("fails every call of an old handle with stream_not_found after the name is created again (issue 13.4)", () =>
    withStream(async (s, { log }) => {
      await s.append(bodies(2, "old"));
      const session = s.appendSession();
      await log.deleteStream("s");
      await log.createStream("s");
      await rejectsWithCode(s.append([{ body: "stale" }]), "stream_not_found");
      await rejectsWithCode(session.submit([{ body: "stale" }]), "stream_not_found");
      await rejectsWithCode(s.checkTail(), "stream_not_found");
      await readRejectsWithCode(s.read({ from: { seqNum: 0 } }), "stream_not_found");
      const fresh = await log.openStream("s");
      assert.deepEqual(await fresh.checkTail(), { seqNum: 0, timestamp: 0 });
      await session.close();
    }));

  it("fails deleting a missing stream with stream_not_found", () =>
    withLog(async ({ log }) => {
      await rejectsWithCode(log.deleteStream("nope"), "stream_not_found");
    }));

  it("ends a follower of a deleted stream with stream_not_found", () =>
    withStream(async (s, { log }) => {
      const session = s.read({ follow: true });
      const consumer = consume(session);
      await session.caughtUp();
      await log.deleteStream("s");
      await rejectsWithCode(consumer.done, "stream_not_found");
    }));

  it("lets the name be created again as a new, empty stream that starts at seqNum 0", () =>
    withStream(async (s, { log }) => {
      await s.append(bodies(3, "old"));
      await s.fence("old-token");
      await log.deleteStream("s");
      await log.createStream("s");
      const again = await log.openStream("s");
      assert.deepEqual(await again.checkTail(), { seqNum: 0, timestamp: 0 });
      assert.deepEqual(await collect(again.read({ from: { seqNum: 0 } })), []);
      const ack = await again.append([{ body: "new" }], { fencingToken: "" });
      assert.equal(ack.start.seqNum, 0);
      assert.deepEqual(texts(await collect(again.read({ from: { seqNum: 0 } }))), ["new"]);
    }));

  it("never brings a deleted stream's records back, even after reopening the log", async () => {
    const t = await openTestLog();
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append(bodies(3, "old"));
      await t.log.deleteStream("s");
      await t.log.createStream("s");
      await (await t.log.openStream("s")).append([{ body: "new" }]);
      for (let round = 0; round < 2; round++) {
        const log = await t.reopen();
        const again = await log.openStream("s");
        assert.deepEqual(texts(await collect(again.read({ from: { seqNum: 0 } }))), ["new"]);
        assert.equal((await again.checkTail()).seqNum, 1);
      }
    } finally {
      await t.log.close();
    }
  });

  it("leaves the other streams untouched", () =>
    withLog(async ({ log }) => {
      const a = await log.openStream("a", { createIfMissing: true });
      const b = await log.openStream("b", { createIfMissing: true });
      await a.append(bodies(2, "a"));
      await b.append(bodies(2, "b"));
      await log.deleteStream("a");
      assert.deepEqual(texts(await collect(b.read({ from: { seqNum: 0 } }))), ["b0", "b1"]);
      assert.deepEqual((await log.listStreams()).map((i) => i.name), ["b"]);
    }));

  it(
    "does not ack appends into a deleted stream when an old handle appends while the delete is being written",
    async () => {
      const store = new HoldingStore();
      const t = await openTestLog({ store });
      try {
        const s = await t.log.openStream("x", { createIfMissing: true });
        await s.append([{ body: "a" }]);
        store.holdWal();
        const deleting = t.log.deleteStream("x");
        await store.whenHeld(); // the delete batch is written, not yet durable
        const racer = s.append([{ body: "during delete" }]).then(
          () => "acked",
          (error: DurastreamError) => error.code,
        );
        await new Promise<void>((resolve) => setImmediate(resolve));
        store.release();
        await deleting;
        const racerOutcome = await racer;
        await t.log.createStream("x");
        const fresh = await t.log.openStream("x");
        const ack = await fresh.append([{ body: "new" }]);
        await t.reopen();
        const afterReopen = texts(await collect((await t.log.openStream("x")).read({ from: { seqNum: 0 } })));
        assert.equal(ack.start.seqNum, 0, "a recreated stream starts at seqNum 0");
        assert.deepEqual(afterReopen, ["new"], "an acknowledged record survives a reopen");
        assert.equal(racerOutcome, "stream_not_found");
      } finally {
        await t.log.close();
      }
    },
  );
});

describe("streams: list", () => {
  const names = ["b", "a/2", "a", "a/1", "Z", "é", "\uFFFD", "😀"];

  async function createAll(log: Log, list: readonly string[]): Promise<void> {
    for (const name of list) await log.createStream(name);
  }

  it("lists nothing on an empty log", () =>
    withLog(async ({ log }) => {
      assert.deepEqual(await log.listStreams(), []);
    }));

  it("lists streams in UTF-8 byte order of their names, with their config", () =>
    withLog(async ({ log }) => {
      await createAll(log, names);
      const listed = await log.listStreams();
      // U+FFFD (EF BF BD) sorts before U+1F600 (F0 ...) in UTF-8, though not in UTF-16.
      assert.deepEqual(listed.map((i) => i.name), ["Z", "a", "a/1", "a/2", "b", "é", "\uFFFD", "😀"]);
      assert.ok(listed.every((i) => i.createdAtMs === T0 && i.config.timestamping.mode === "client-prefer"));
    }));

  it("filters by prefix, starts after a name, and stops at limit", () =>
    withLog(async ({ log }) => {
      await createAll(log, names);
      const list = async (options: Parameters<Log["listStreams"]>[0]) => (await log.listStreams(options)).map((i) => i.name);
      assert.deepEqual(await list({ prefix: "a" }), ["a", "a/1", "a/2"]);
      assert.deepEqual(await list({ prefix: "a/" }), ["a/1", "a/2"]);
      assert.deepEqual(await list({ prefix: "c" }), []);
      assert.deepEqual(await list({ startAfter: "a/1" }), ["a/2", "b", "é", "\uFFFD", "😀"]);
      assert.deepEqual(await list({ startAfter: "a/", limit: 2 }), ["a/1", "a/2"]);
      assert.deepEqual(await list({ prefix: "a", startAfter: "a" }), ["a/1", "a/2"]);
      assert.deepEqual(await list({ prefix: "a", startAfter: "0" }), ["a", "a/1", "a/2"]);
      assert.deepEqual(await list({ prefix: "a", startAfter: "b" }), []);
      assert.deepEqual(await list({ limit: 1 }), ["Z"]);
    }));

  it("pages through every stream with startAfter and limit, each exactly once", () =>
    withLog(async ({ log }) => {
      const all = Array.from({ length: 25 }, (_, i) => `s-${String(i).padStart(2, "0")}`);
      await createAll(log, [...all].reverse());
      const seen: string[] = [];
      let startAfter: string | undefined;
      for (let page = 0; page < 10; page++) {
        const got = await log.listStreams({ limit: 10, ...(startAfter === undefined ? {} : { startAfter }) });
        seen.push(...got.map((i) => i.name));
        if (got.length < 10) break;
        startAfter = got.at(-1)!.name;
      }
      assert.deepEqual(seen, all);
    }));

  it(`accepts limit 1..${MAX_LIST_STREAMS_LIMIT} and refuses 0, ${MAX_LIST_STREAMS_LIMIT + 1} and unknown options with validation`, () =>
    withLog(async ({ log }) => {
      await log.createStream("s");
      assert.equal((await log.listStreams({ limit: MAX_LIST_STREAMS_LIMIT })).length, 1);
      await rejectsWithCode(log.listStreams({ limit: 0 }), "validation");
      await rejectsWithCode(log.listStreams({ limit: MAX_LIST_STREAMS_LIMIT + 1 }), "validation");
      await rejectsWithCode(log.listStreams({ limit: 1.5 }), "validation");
      await rejectsWithCode(log.listStreams({ prefix: 7 } as never), "validation");
      await rejectsWithCode(log.listStreams({ start: "a" } as never), "validation");
    }));
});

describe("streams: names", () => {
  it(`accepts a name of ${MAX_STREAM_NAME_BYTES} UTF-8 bytes and refuses ${MAX_STREAM_NAME_BYTES + 1}`, () =>
    withLog(async ({ log }) => {
      const ascii = "n".repeat(MAX_STREAM_NAME_BYTES);
      const twoByte = "é".repeat(MAX_STREAM_NAME_BYTES / 2);
      for (const name of [ascii, twoByte]) {
        await log.createStream(name);
        await (await log.openStream(name)).append([{ body: "x" }]);
      }
      assert.deepEqual((await log.listStreams()).map((i) => i.name).sort(), [ascii, twoByte].sort());
      await rejectsWithCode(log.createStream(`${ascii}n`), "validation");
      await rejectsWithCode(log.createStream(`${twoByte}n`), "validation");
    }));

  it('refuses "." and "..", the empty name and control characters, but accepts names that only look like paths', () =>
    withLog(async ({ log }) => {
      for (const bad of [".", "..", "", "a\u0000b", "tab\there", "del\u007f", "\uD800"]) {
        await rejectsWithCode(log.createStream(bad), "validation", `createStream(${JSON.stringify(bad)})`);
      }
      for (const fine of ["...", "a/../b", "./x", "名前", " spaced "]) await log.createStream(fine);
      assert.equal((await log.listStreams()).length, 5);
    }));

  it("checks the name in every call that takes one", () =>
    withLog(async ({ log }) => {
      await rejectsWithCode(log.openStream(".."), "validation");
      await rejectsWithCode(log.openStream("..", { createIfMissing: true }), "validation");
      await rejectsWithCode(log.reconfigureStream("..", {}), "validation");
      await rejectsWithCode(log.deleteStream(".."), "validation");
      await rejectsWithCode(log.createStream(42 as never), "validation");
      await rejectsWithCode(log.createStream("s", { retention: { ageSeconds: -1 } }), "validation");
    }));
});

describe("trim", () => {
  it("makes the records below the trim point unreadable at once; the trim record itself stays", () =>
    withStream(async (s) => {
      await s.append(bodies(10));
      const ack = await s.trim(5);
      assert.equal(ack.start.seqNum, 10);
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 0 } }))), [5, 6, 7, 8, 9, 10]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 3 }, limit: { count: 2 } }))), [5, 6]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { tailOffset: 100 } }))), [5, 6, 7, 8, 9, 10]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { timestamp: 0 } }))), [5, 6, 7, 8, 9, 10]);
      assert.equal((await s.checkTail()).seqNum, 11);
    }));

  it("never trims past the trim record itself: trim(100) at seqNum 3 trims through 3", () =>
    withStream(async (s) => {
      await s.append(bodies(3));
      const ack = await s.trim(100);
      assert.equal(ack.start.seqNum, 3);
      assert.deepEqual(await collect(s.read({ from: { seqNum: 0 } })), []);
      await s.append([{ body: "after" }]);
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 0 } }))), [4]);
    }));

  it("treats a trim below the current trim point as a no-op", () =>
    withStream(async (s) => {
      await s.append(bodies(10));
      await s.trim(5);
      await s.trim(2);
      assert.equal((await collect(s.read({ from: { seqNum: 0 } })))[0]!.seqNum, 5);
    }));

  it("keeps the trim point across a reopen", async () => {
    const t = await openTestLog();
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append(bodies(10));
      await s.trim(7);
      const again = await (await t.reopen()).openStream("s");
      assert.deepEqual(seqNums(await collect(again.read({ from: { seqNum: 0 } }))), [7, 8, 9, 10]);
    } finally {
      await t.log.close();
    }
  });

  it("refuses a negative or fractional trim point with validation", () =>
    withStream(async (s) => {
      await rejectsWithCode(s.trim(-1), "validation");
      await rejectsWithCode(s.trim(1.5), "validation");
    }));

  it("lets compaction delete trimmed records from the store: stored bytes stay near what is readable", async () => {
    const store = new MemoryStore();
    const t = await openTestLog({ store, l0SstBytes: 16 * 1024, gcIntervalMs: 0, gcGraceMs: 0 });
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      const body = new Uint8Array(1000).fill(1);
      const batches = 50;
      for (let i = 0; i < batches; i++) {
        const ack = await s.append(Array.from({ length: 10 }, () => ({ body })));
        await s.trim(Math.max(0, ack.end.seqNum - 20));
      }
      const written = batches * 10 * body.length;
      const engine = t.log.metrics().engine;
      assert.ok(engine.l0Flushes > 4 && engine.compactions > 0, `memtables were flushed (${engine.l0Flushes}) and compacted (${engine.compactions})`);
      const sstBytes = await storedBytes(store, "sst/");
      assert.ok(sstBytes < written * 0.3, `SSTs hold ${sstBytes} bytes after ${written} bytes written, of which ~20 KB are readable`);
      const readable = await collect(s.read({ from: { seqNum: 0 } }));
      assert.equal(readable.length, 21);
      assert.deepEqual(readable[0]!.body, body);
    } finally {
      await t.log.close();
    }
  });

  it("lets compaction delete a deleted stream's records from the store", async () => {
    const store = new MemoryStore();
    const t = await openTestLog({ store, l0SstBytes: 16 * 1024, gcIntervalMs: 0, gcGraceMs: 0 });
    try {
      const gone = await t.log.openStream("gone", { createIfMissing: true });
      const body = new Uint8Array(1000).fill(2);
      for (let i = 0; i < 30; i++) await gone.append(Array.from({ length: 10 }, () => ({ body })));
      await t.log.deleteStream("gone");
      const s = await t.log.openStream("s", { createIfMissing: true });
      for (let i = 0; i < 40; i++) {
        const ack = await s.append(Array.from({ length: 10 }, () => ({ body })));
        await s.trim(Math.max(0, ack.end.seqNum - 20));
      }
      // Size-tiered compaction reaches the run holding the deleted records once enough newer
      // data piles up on top of it: keep writing (and trimming) until it did, within a bound.
      // The collector's next pass may wait on a timer of the manual clock (one kicked while a pass
      // ran is rescheduled): time moves on a little each round, as it would.
      let sstBytes = await storedBytes(store, "sst/");
      for (let i = 0; i < 200 && sstBytes >= 300 * body.length * 0.6; i++) {
        const ack = await s.append(Array.from({ length: 10 }, () => ({ body })));
        await s.trim(Math.max(0, ack.end.seqNum - 20));
        await t.clock.advance(1);
        sstBytes = await storedBytes(store, "sst/");
      }
      assert.ok(sstBytes < 300 * body.length * 0.6, `SSTs hold ${sstBytes} bytes; the deleted stream alone had ${300 * body.length}`);
      assert.equal((await collect(s.read({ from: { seqNum: 0 } }))).length, 21);
    } finally {
      await t.log.close();
    }
  });
});

describe("retention", () => {
  it("never returns a record older than the retention age, while the tail and seqNums go on", () =>
    withStream(
      async (s, { clock }) => {
        await s.append(bodies(3));
        clock.setNowMs(T0 + 59_999);
        assert.equal((await collect(s.read({ from: { seqNum: 0 } }))).length, 3);
        clock.setNowMs(T0 + 60_001);
        assert.deepEqual(await collect(s.read({ from: { seqNum: 0 } })), []);
        assert.deepEqual(await collect(s.read({ from: { timestamp: 0 } })), []);
        assert.deepEqual(await collect(s.read({ from: { tailOffset: 3 } })), []);
        assert.deepEqual(await s.checkTail(), { seqNum: 3, timestamp: T0 });
        const ack = await s.append([{ body: "fresh" }]);
        assert.equal(ack.start.seqNum, 3);
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["fresh"]);
      },
      { config: { retention: { ageSeconds: 60 } } },
    ));

  it("counts the age from when a record was written, not from its timestamp", () =>
    withStream(
      async (s, { clock }) => {
        await s.append([{ body: "old timestamp", timestamp: T0 - 30 * DAY_MS }]);
        clock.setNowMs(T0 + 59_000);
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["old timestamp"]);
      },
      { config: { retention: { ageSeconds: 60 } } },
    ));

  it("expires records after 7 days of retention, and keeps them forever with infinite retention, the default", () =>
    withLog(async ({ log, clock }) => {
      const finite = await log.openStream("week", { createIfMissing: true, config: { retention: { ageSeconds: 7 * 24 * 3600 } } });
      const forever = await log.openStream("default", { createIfMissing: true });
      await finite.append(bodies(1));
      await forever.append(bodies(1));
      clock.setNowMs(T0 + 7 * DAY_MS - 1);
      assert.equal((await collect(finite.read({ from: { seqNum: 0 } }))).length, 1);
      clock.setNowMs(T0 + 7 * DAY_MS + 1);
      assert.equal((await collect(finite.read({ from: { seqNum: 0 } }))).length, 0);
      clock.setNowMs(T0 + 3650 * DAY_MS);
      assert.equal((await collect(forever.read({ from: { seqNum: 0 } }))).length, 1);
    }));

  it("starts a follower after the expired records and delivers the new ones", () =>
    withStream(
      async (s, { clock }) => {
        await s.append(bodies(3));
        clock.setNowMs(T0 + 61_000);
        const session = s.read({ from: { seqNum: 0 }, follow: true });
        const consumer = consume(session);
        assert.equal((await session.caughtUp()).seqNum, 3);
        await s.append([{ body: "new" }]);
        assert.deepEqual(seqNums(await consumer.waitFor(1)), [3]);
        await session.close();
        await consumer.done;
      },
      { config: { retention: { ageSeconds: 60 } } },
    ));
});

describe("reopen", () => {
  it("restores the tail to the last durable record and continues seqNums, timestamps, token and config from it", async () => {
    const t = await openTestLog();
    try {
      const s = await t.log.openStream("s", { createIfMissing: true, config: { timestamping: { uncapped: true } } });
      await appendEach(s, 4);
      await s.fence("tok");
      const last = await s.append([{ body: "last", timestamp: T0 + 500 }], { fencingToken: "tok" });
      const log = await t.reopen();
      const again = await log.openStream("s");
      assert.deepEqual(await again.checkTail(), last.end);
      await rejectsWithCode(again.append([{ body: "x" }], { fencingToken: "" }), "fencing_token_mismatch");
      const next = await again.append([{ body: "next" }], { fencingToken: "tok", matchSeqNum: 6 });
      assert.deepEqual(next.start, { seqNum: 6, timestamp: T0 + 500 }, "timestamps never go back across a reopen");
      assert.deepEqual(texts(await collect(again.read({ from: { seqNum: 0 } }))), ["r0", "r1", "r2", "r3", "tok", "last", "next"]);
      assert.equal((await log.listStreams())[0]!.config.timestamping.uncapped, true);
    } finally {
      await t.log.close();
    }
  });

  it("waits in close() for appends already written and acknowledges them; they are there after a reopen", async () => {
    const store = new HoldingStore();
    const t = await openTestLog({ store });
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append([{ body: "warm" }]);
      store.holdWal();
      const pending = Promise.all(Array.from({ length: 5 }, (_, i) => s.append([{ body: `p${i}` }])));
      await store.whenHeld();
      const closing = t.log.close();
      store.release();
      await closing;
      const acks = await pending;
      assert.equal(acks.at(-1)!.end.seqNum, 6);
      const log = await t.reopen();
      assert.equal((await collect((await log.openStream("s")).read({ from: { seqNum: 0 } }))).length, 6);
    } finally {
      await t.log.close();
    }
  });

  it(
    "never fails an append called just before close() as not applied when its records end up durable",
    async () => {
      const t = await openTestLog();
      try {
        const s = await t.log.openStream("s", { createIfMissing: true });
        await s.append([{ body: "warm" }]);
        const replies = Array.from({ length: 5 }, (_, i) =>
          s.append([{ body: `p${i}` }]).then(
            () => "acked",
            (error: DurastreamError) => error.outcome ?? "none",
          ),
        );
        const log = await t.reopen(); // close() right after the append() calls, then open again
        const outcomes = await Promise.all(replies);
        const stored = new Set(texts(await collect((await log.openStream("s")).read({ from: { seqNum: 0 } }))));
        outcomes.forEach((outcome, i) => {
          if (outcome === "acked") assert.ok(stored.has(`p${i}`), `p${i} was acknowledged but is not stored`);
          if (outcome === "not_applied") assert.ok(!stored.has(`p${i}`), `p${i} failed as not_applied but is stored`);
        });
      } finally {
        await t.log.close();
      }
    },
  );

  it("opens a one-stream log with openStream(store, name) and closes the log with stream.close()", async () => {
    const store = new MemoryStore();
    const s = await openStream(store, "solo", { createIfMissing: true, flushIntervalMs: 0 });
    await s.append([{ body: "x" }]);
    await s.close();
    await rejectsWithCode(s.append([{ body: "y" }]), "closed");
    await rejectsWithCode(openStream(store, "missing", { flushIntervalMs: 0 }), "stream_not_found");
    const again = await openStream("memory://", "fresh", { createIfMissing: true });
    assert.deepEqual(await again.checkTail(), { seqNum: 0, timestamp: 0 });
    await again.close();
    const reopened = await openStream(store, "solo");
    assert.deepEqual(texts(await collect(reopened.read({ from: { seqNum: 0 } }))), ["x"]);
    await reopened.close();
  });
});

describe("a second log on the same store", () => {
  it("fences the first: its later calls fail with fenced, its health says why, and nothing it acknowledged is lost", async () => {
    const store = new MemoryStore();
    const first = await openTestLog({ store });
    let second: Log | undefined;
    try {
      const s = await first.log.openStream("s", { createIfMissing: true });
      await s.append([{ body: "acked" }]);
      second = await openLog({ store, clock: first.clock, flushIntervalMs: 0, takeover: true });
      const zombie = s.append([{ body: "zombie" }]).catch(() => undefined); // fails with fenced (tested below)
      await settle(10);
      await rejectsWithCode(s.append([{ body: "late" }]), "fenced");
      await rejectsWithCode(s.checkTail(), "fenced");
      const health = first.log.health();
      assert.equal(health.status, "closed");
      assert.match(health.reason ?? "", /fenced/);
      await first.log.close();
      await zombie;
      const again = await second.openStream("s");
      assert.deepEqual(texts(await collect(again.read({ from: { seqNum: 0 } }))), ["acked"]);
      assert.equal((await again.append([{ body: "new writer" }])).start.seqNum, 1);
    } finally {
      await first.log.close();
      await second?.close();
    }
  });

  it(
    "fails an append that was in flight when the first log was fenced, instead of leaving it pending",
    async () => {
      const store = new MemoryStore();
      const first = await openTestLog({ store });
      try {
        const s = await first.log.openStream("s", { createIfMissing: true });
        await s.append([{ body: "acked" }]);
        const second = await openLog({ store, clock: first.clock, flushIntervalMs: 0, takeover: true });
        let outcome = "pending";
        const zombie = s.append([{ body: "zombie" }]).then(
          () => (outcome = "acked"),
          (error: DurastreamError) => (outcome = error.code),
        );
        await settle(10);
        await first.log.close(); // releases the hung append either way
        await zombie;
        await second.close();
        assert.notEqual(outcome, "acked", "a write of a fenced writer must never be acknowledged");
        assert.equal(first.log.health().status, "closed");
        assert.ok(outcome === "fenced", `the in-flight append was left pending until close(), then failed with ${outcome}`);
      } finally {
        await first.log.close();
      }
    },
  );
});

describe("store failures", () => {
  /** Advances the test clock in steps until `done()` or `maxSteps` steps. */
  async function advanceUntil(clock: ManualClock, done: () => boolean, stepMs = 100, maxSteps = 100): Promise<void> {
    for (let i = 0; i < maxSteps && !done(); i++) await clock.advance(stepMs);
  }

  it("fails appends during an outage with storage errors, then recovers by itself and continues seqNums without a gap", async () => {
    const store = new FaultyStore(new MemoryStore());
    const t = await openTestLog({ store, storeRetryDeadlineMs: 1000 });
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append([{ body: "before" }]);
      store.cut();
      let pendingError: DurastreamError | undefined;
      const pending = s.append([{ body: "during" }]).catch((error: DurastreamError) => (pendingError = error));
      await advanceUntil(t.clock, () => pendingError !== undefined);
      await pending;
      assert.equal(pendingError?.code, "storage");
      assert.equal(pendingError?.outcome, "unknown", "the WAL object may or may not have been written");
      assert.equal(pendingError?.retryable, true);
      assert.equal(t.log.health().status, "recovering");
      assert.ok(t.log.health().reason !== undefined);
      const refused = await rejectsWithCode(s.append([{ body: "refused" }]), "storage");
      assert.equal(refused.outcome, "not_applied");
      const epoch = t.log.health().writerEpoch;
      store.heal();
      await advanceUntil(t.clock, () => t.log.health().status === "ok");
      assert.equal(t.log.health().status, "ok");
      assert.ok(t.log.health().writerEpoch > epoch, "recovery reopened the log under a new writer epoch");
      const ack = await s.append([{ body: "after" }]);
      assert.equal(ack.start.seqNum, 1, "the append whose outcome was unknown did not become durable here");
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["before", "after"]);
    } finally {
      await t.log.close();
    }
  });

  it("acknowledges an append exactly once when the store applied its WAL object but the response was lost", async () => {
    const store = new FaultyStore(new MemoryStore());
    const t = await openTestLog({ store, storeRetryDeadlineMs: 1000 });
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append([{ body: "a" }]);
      const rule = store.loseResponse("put", (call) => call.key.startsWith("wal/"), { times: 1 });
      let acked: number | undefined;
      const pending = s.append([{ body: "lost response" }]).then((ack) => (acked = ack.start.seqNum));
      await advanceUntil(t.clock, () => acked !== undefined, 50);
      await pending;
      assert.equal(rule.fired, 1);
      assert.equal(acked, 1);
      await s.append([{ body: "c" }]);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["a", "lost response", "c"]);
    } finally {
      await t.log.close();
    }
  });
});

describe("a closed log", () => {
  it("fails every method of the log and of its stream handles with closed", async () => {
    const t = await openTestLog();
    const s = await t.log.openStream("s", { createIfMissing: true });
    await s.append([{ body: "x" }]);
    await t.log.close();
    await assertEverythingClosed(t.log, s);
    const error = await rejectsWithCode(s.checkTail(), "closed");
    assert.ok(error instanceof ClosedError);
    assert.equal(error.reason, "closed");
  });

  it("fails an append session's later submits with closed", async () => {
    const t = await openTestLog();
    const s = await t.log.openStream("s", { createIfMissing: true });
    const session = s.appendSession();
    await (await session.submit([{ body: "x" }])).ack();
    await t.log.close();
    await rejectsWithCode(session.submit([{ body: "y" }]), "closed");
  });
});

describe("openLog options", () => {
  const bad: [string, unknown][] = [
    ["no options", undefined],
    ["a missing store", {}],
    ["a store that is a number", { store: 5 }],
    ["an unknown store URL scheme", { store: "ftp://x" }],
    ["an in-flight cap below 1 MiB", { store: new MemoryStore(), inflightBytes: 1024 }],
    ["a negative flushIntervalMs", { store: new MemoryStore(), flushIntervalMs: -1 }],
    ["a tiny l0SstBytes", { store: new MemoryStore(), l0SstBytes: 10 }],
    ["a tiny maxSstBytes", { store: new MemoryStore(), maxSstBytes: 10 }],
    ["a fractional storeRetryDeadlineMs", { store: new MemoryStore(), storeRetryDeadlineMs: 0.5 }],
  ];
  for (const [what, options] of bad) {
    it(`refuses ${what} with validation`, async () => {
      await rejectsWithCode(openLog(options as never), "validation");
    });
  }

  it("refuses a store object that is not an ObjectStore, naming the missing methods (issue 13.9)", async () => {
    await assert.rejects(openLog({ store: {} as never }), (error: unknown) => {
      assert.ok(error instanceof DurastreamError && error.code === "validation", String(error));
      assert.match(error.message, /not an ObjectStore: it has no get\(\), head\(\), put\(\), delete\(\), list\(\) methods/);
      return true;
    });
    const { put: _put, ...withoutPut } = { get: () => 0, head: () => 0, put: () => 0, delete: () => 0, list: () => 0 };
    await assert.rejects(openLog({ store: withoutPut as never }), /it has no put\(\) method$/);
    await assert.rejects(openLog({ store: { ...withoutPut, put: () => 0, close: 1 } as never }), /it has no close\(\) method$/);
    // inspectStore takes a store object too: the same check, not a TypeError from store.list().
    await assert.rejects(inspectStore({} as never), (error: unknown) => {
      assert.ok(error instanceof DurastreamError && error.code === "validation", String(error));
      assert.match(error.message, /^inspectStore: `store` is not an ObjectStore: it has no get\(\), head\(\), put\(\), delete\(\), list\(\) methods$/);
      return true;
    });
  });

  it("passes maxSstBytes to the engine: out of range is refused there, and compaction outputs stay within it", async () => {
    await assert.rejects(openLog({ store: new MemoryStore(), maxSstBytes: 10 }), /option maxSstBytes must be an integer in \[1024,/);
    const store = new MemoryStore();
    const maxSstBytes = 32 * 1024;
    const log = await openLog({ store, flushIntervalMs: 0, l0SstBytes: 16 * 1024, maxSstBytes, gcIntervalMs: 0, gcGraceMs: 0 });
    try {
      const s = await log.openStream("s", { createIfMissing: true });
      for (let round = 0; round < 12; round++) await s.append(Array.from({ length: 40 }, (_, i) => ({ body: `r${round}-${i}-`.padEnd(400, "x") })));
      // Background work: wait for a compaction turn by turn (bounded), not by time.
      for (let turn = 0; turn < 100_000 && log.metrics().engine.compactionBytesWritten === 0; turn++) await new Promise(setImmediate);
      assert.ok(log.metrics().engine.compactionBytesWritten > maxSstBytes, "precondition: a compaction wrote more than one output's worth");
      for await (const entry of store.list("sst/")) assert.ok(entry.size <= maxSstBytes, `${entry.key} is ${entry.size} bytes, over maxSstBytes`);
    } finally {
      await log.close();
    }
  });

  it(
    "refuses an unknown (misspelt) option with validation",
    async () => {
      const log = await openLog({ store: new MemoryStore(), clock: new ManualClock({ startMs: T0 }), flushIntervalMS: 50 } as never).catch((error: unknown) => error);
      if (!(log instanceof DurastreamError)) await (log as Log).close();
      assert.ok(log instanceof DurastreamError && log.code === "validation", "openLog accepted an unknown option");
    },
  );
});

describe("errors", () => {
  it("are DurastreamErrors with a stable code, retryable and outcome, and messages that say what to do", () =>
    withStream(async (s, { log }) => {
      await s.append(bodies(1));
      const cases: [Promise<unknown>, ErrorCode, string | undefined][] = [
        [s.append([], {}), "validation", "not_applied"],
        [s.append([{ body: "x" }], { matchSeqNum: 9 }), "seq_num_mismatch", "not_applied"],
        [s.append([{ body: "x" }], { fencingToken: "t" }), "fencing_token_mismatch", "not_applied"],
        [collect(s.read({ from: { seqNum: 9 } })), "unwritten", undefined],
        [log.openStream("nope"), "stream_not_found", undefined],
        [log.createStream("s"), "stream_exists", undefined],
      ];
      for (const [promise, code, outcome] of cases) {
        const error: DurastreamError = await rejectsWithCode(promise, code);
        assert.equal(error.outcome, outcome, code);
        assert.equal(error.retryable, false, code);
        assert.equal(error.name, error.constructor.name);
        assert.ok(error.message.length > 20, `${code} has a helpful message: ${error.message}`);
      }
    }));
});

describe("metrics and health", () => {
  it("counts appends, failed appends and their latency, and reports in-flight bytes and the engine", () =>
    withStream(async (s, { log }) => {
      await appendEach(s, 3);
      await rejectsWithCode(s.append([{ body: "x" }], { matchSeqNum: 0 }), "seq_num_mismatch");
      const m = log.metrics();
      assert.equal(m.appends, 4);
      assert.equal(m.appendErrors, 1);
      assert.equal(m.appendLatency.count, 4);
      assert.equal(typeof m.appendLatency.p99Ms, "number");
      assert.equal(m.inflightBytes, 0, "every permit was released with its reply");
      assert.equal(m.inflightCapacityBytes, DEFAULT_INFLIGHT_BYTES);
      assert.equal(typeof m.backpressureWaits, "number");
      assert.ok(m.openStreams >= 1);
      assert.equal(m.engine.state, "open");
      assert.ok(m.engine.walFlushes >= 3);
      assert.ok(m.engine.storeRequests !== undefined);
      assert.equal(m.engine.durableSeq, m.engine.lastSeq);
    }));

  it("reports health ok with the durable seq and writer epoch, a new epoch after reopening, and closed after close", async () => {
    const t = await openTestLog();
    try {
      const s = await t.log.openStream("s", { createIfMissing: true });
      await s.append([{ body: "x" }]);
      const health = t.log.health();
      assert.equal(health.status, "ok");
      assert.equal(health.reason, undefined);
      assert.ok(health.durableSeq >= 1);
      const epoch = health.writerEpoch;
      const log = await t.reopen();
      assert.equal(log.health().writerEpoch, epoch + 1);
      await log.close();
      assert.equal(log.health().status, "closed");
    } finally {
      await t.log.close();
    }
  });

  it("uses the configured in-flight cap", () =>
    withLog(
      async ({ log }) => {
        assert.equal(log.metrics().inflightCapacityBytes, 2 * 1024 * 1024);
      },
      { inflightBytes: 2 * 1024 * 1024 },
    ));
});
