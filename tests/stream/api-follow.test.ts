/**
 * Behaviour tests of following reads (`read({ follow: true })`) through the public API: live
 * delivery, `waitMs` idleness on a ManualClock (reset only by delivered records), the ways a
 * session ends (abort, break, close(), limits, until, the log closing), `caughtUp()`, and a
 * follower that falls more than 25 batches behind and must go back to storage without losing or
 * repeating a record. s2-lite's data_plane/read_follow.rs and read.rs wait tests (research brief
 * sections 4.4 and 11).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FOLLOWER_MAX_LAG_BATCHES } from "../../src/limits.js";
import { T0, bodies, consume, deferred, rejectsWithCode, seqNums, settle, texts, withLog, withStream } from "../helpers/stream-helpers.js";

describe("follow: live delivery", () => {
  it("delivers the stored records, then each new record once it is acknowledged", () =>
    withStream(async (s) => {
      await s.append([{ body: "stored" }]);
      const session = s.read({ from: { seqNum: 0 }, follow: true });
      const consumer = consume(session);
      await consumer.waitFor(1);
      await s.append([{ body: "live-1" }]);
      await s.append([{ body: "live-2" }, { body: "live-3" }]);
      assert.deepEqual(texts(await consumer.waitFor(4)), ["stored", "live-1", "live-2", "live-3"]);
      await session.close();
      assert.deepEqual(seqNums(await consumer.done), [0, 1, 2, 3]);
    }));

  it("follows from the tail by default and starts an empty stream's followers at its first record", () =>
    withStream(async (s) => {
      const session = s.read({ follow: true });
      const consumer = consume(session);
      assert.deepEqual(await session.caughtUp(), { seqNum: 0, timestamp: 0 });
      await s.append([{ body: "first" }]);
      assert.deepEqual(texts(await consumer.waitFor(1)), ["first"]);
      await session.close();
      await consumer.done;
    }));

  it("gives every follower of a stream every record, in order", () =>
    withStream(async (s) => {
      const sessions = [s.read({ follow: true }), s.read({ follow: true }), s.read({ from: { seqNum: 0 }, follow: true })];
      const consumers = sessions.map((session) => consume(session));
      await Promise.all(sessions.map((session) => session.caughtUp()));
      for (let i = 0; i < 5; i++) await s.append(bodies(2, `b${i}-`));
      for (const consumer of consumers) assert.deepEqual(seqNums(await consumer.waitFor(10)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await Promise.all(sessions.map((session) => session.close()));
    }));

  it("follows from past the tail with clamp, receiving the records appended afterwards", () =>
    withStream(async (s) => {
      await s.append(bodies(2));
      const session = s.read({ from: { seqNum: 99 }, clamp: true, follow: true });
      const consumer = consume(session);
      assert.equal((await session.caughtUp()).seqNum, 2);
      await s.append([{ body: "next" }]);
      assert.deepEqual(seqNums(await consumer.waitFor(1)), [2]);
      await session.close();
      await consumer.done;
    }));

  it("resolves caughtUp() with the tail when the follower first reaches it", () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(5));
      const session = s.read({ from: { seqNum: 0 }, follow: true });
      const consumer = consume(session);
      assert.deepEqual(await session.caughtUp(), ack.end);
      assert.equal(consumer.records.length, 5, "every stored record was delivered before caughtUp resolved");
      await session.close();
      await consumer.done;
    }));
});

describe("follow: waitMs", () => {
  it("ends after waitMs of idleness at the tail, not before", () =>
    withStream(async (s, { clock }) => {
      await s.append(bodies(1));
      const session = s.read({ follow: true, waitMs: 1000 });
      const consumer = consume(session);
      await session.caughtUp();
      await clock.advance(999);
      await settle();
      assert.equal(consumer.ended, false, "still following at 999 ms");
      await clock.advance(1);
      assert.deepEqual(await consumer.done, []);
    }));

  it("restarts the wait at every delivered record", () =>
    withStream(async (s, { clock }) => {
      const session = s.read({ follow: true, waitMs: 1000 });
      const consumer = consume(session);
      await session.caughtUp();
      await clock.advance(600);
      await s.append([{ body: "at 600" }]);
      await consumer.waitFor(1);
      await clock.advance(999); // 1599 ms since the start, 999 since the record
      await settle();
      assert.equal(consumer.ended, false, "the record at 600 ms moved the deadline to 1600 ms");
      await clock.advance(1);
      assert.deepEqual(texts(await consumer.done), ["at 600"]);
    }));

  it("counts records delivered while catching up from storage as activity too", () =>
    withStream(async (s, { clock }) => {
      await s.append(bodies(3));
      const session = s.read({ from: { seqNum: 0 }, follow: true, waitMs: 100 });
      const consumer = consume(session);
      await session.caughtUp();
      await clock.advance(99);
      await settle();
      assert.equal(consumer.ended, false);
      await clock.advance(1);
      assert.equal((await consumer.done).length, 3);
    }));

  it("with waitMs 0 ends as soon as it reaches the tail (once the clock runs due timers)", () =>
    withStream(async (s, { clock }) => {
      await s.append(bodies(3));
      const session = s.read({ from: { seqNum: 0 }, follow: true, waitMs: 0 });
      const consumer = consume(session);
      await session.caughtUp();
      await clock.runDue();
      assert.equal((await consumer.done).length, 3);
    }));
});

describe("follow: how a session ends", () => {
  it("ends when its signal aborts, and releases its wait timer", () =>
    withStream(async (s, { clock }) => {
      const baseline = clock.pendingTimerCount;
      const controller = new AbortController();
      const session = s.read({ follow: true, waitMs: 60_000, signal: controller.signal });
      const consumer = consume(session);
      await session.caughtUp();
      assert.equal(clock.pendingTimerCount, baseline + 1);
      controller.abort();
      const outcome = await consumer.done.then(
        (records) => ({ records }),
        (error: unknown) => ({ error }),
      );
      if ("error" in outcome) assert.equal((outcome.error as { code?: string }).code, "aborted");
      else assert.deepEqual(outcome.records, []);
      assert.equal(clock.pendingTimerCount, baseline);
    }));

  it("ends at once when its signal fired before iteration started", () =>
    withStream(async (s) => {
      await s.append(bodies(2));
      const controller = new AbortController();
      controller.abort();
      const consumer = consume(s.read({ from: { seqNum: 0 }, follow: true, signal: controller.signal }));
      const outcome = await consumer.done.then(
        (records) => records.length,
        (error: { code?: string }) => error.code,
      );
      assert.ok(outcome === 0 || outcome === "aborted", `got ${String(outcome)}`);
    }));

  it("ends on break and releases its subscription and timer; appends go on", () =>
    withStream(async (s, { clock }) => {
      const baseline = clock.pendingTimerCount;
      await s.append(bodies(1));
      let seen = 0;
      for await (const record of s.read({ from: { seqNum: 0 }, follow: true, waitMs: 60_000 })) {
        seen++;
        assert.equal(record.seqNum, 0);
        break;
      }
      assert.equal(seen, 1);
      assert.equal(clock.pendingTimerCount, baseline);
      for (let i = 0; i < FOLLOWER_MAX_LAG_BATCHES + 5; i++) await s.append([{ body: `after-${i}` }]);
      assert.equal((await s.checkTail()).seqNum, FOLLOWER_MAX_LAG_BATCHES + 6);
    }));

  it("ends when close() is called while it waits for records", () =>
    withStream(async (s, { clock }) => {
      const baseline = clock.pendingTimerCount;
      const session = s.read({ follow: true, waitMs: 60_000 });
      const consumer = consume(session);
      await session.caughtUp();
      await session.close();
      assert.deepEqual(await consumer.done, []);
      assert.equal(clock.pendingTimerCount, baseline);
    }));

  it("ends exactly at a count limit, counting stored and live records, without an error", () =>
    withStream(async (s) => {
      await s.append([{ body: "stored" }]);
      const consumer = consume(s.read({ from: { seqNum: 0 }, follow: true, limit: { count: 3 } }));
      await consumer.waitFor(1);
      await s.append([{ body: "live-1" }]);
      await s.append([{ body: "live-2" }, { body: "live-3" }]);
      assert.deepEqual(texts(await consumer.done), ["stored", "live-1", "live-2"]);
    }));

  it("cuts a live batch at the byte limit and ends", () =>
    withStream(async (s) => {
      const session = s.read({ follow: true, limit: { bytes: 30 } }); // each "ab" record meters 10
      const consumer = consume(session);
      await session.caughtUp();
      await s.append(Array.from({ length: 5 }, () => ({ body: "ab" })));
      assert.equal((await consumer.done).length, 3);
    }));

  it("ends without a record when the byte limit is smaller than the first live record", () =>
    withStream(async (s) => {
      const session = s.read({ follow: true, limit: { bytes: 9 } });
      const consumer = consume(session);
      await session.caughtUp();
      await s.append([{ body: "ab" }]);
      assert.deepEqual(await consumer.done, []);
    }));

  it("ends at the first live record at or after until", () =>
    withStream(async (s) => {
      const session = s.read({ follow: true, until: 3000 });
      const consumer = consume(session);
      await session.caughtUp();
      await s.append([{ body: "1000", timestamp: 1000 }]);
      await s.append([{ body: "2000", timestamp: 2000 }, { body: "3000", timestamp: 3000 }, { body: "4000", timestamp: 4000 }]);
      assert.deepEqual(texts(await consumer.done), ["1000", "2000"]);
    }));

  it("fails with closed when the log closes under it", () =>
    withLog(async ({ log }) => {
      const s = await log.openStream("s", { createIfMissing: true });
      const session = s.read({ follow: true });
      const consumer = consume(session);
      await session.caughtUp();
      await log.close();
      await rejectsWithCode(consumer.done, "closed");
    }));

  it(
    "follows from a timestamp past the tail and delivers only records at or after that timestamp",
    () =>
      withStream(async (s) => {
        await s.append([{ body: "old", timestamp: 1000 }]);
        const session = s.read({ from: { timestamp: 5000 }, follow: true });
        const consumer = consume(session);
        await session.caughtUp();
        await s.append([{ body: "early", timestamp: 2000 }, { body: "late", timestamp: T0 }]);
        await consumer.waitFor(1);
        await session.close();
        assert.deepEqual(texts(await consumer.done), ["late"]);
      }),
  );
});

describe("follow: a lagging follower", () => {
  it(`still gets every record exactly once, in order, after falling more than ${FOLLOWER_MAX_LAG_BATCHES} batches behind`, () =>
    withStream(async (s) => {
      const slow = deferred();
      const session = s.read({ follow: true });
      const consumer = consume(session, () => slow.promise);
      await session.caughtUp();
      await s.append([{ body: "b0" }]);
      await consumer.waitFor(1); // the consumer now sits on its first record
      const lagBatches = FOLLOWER_MAX_LAG_BATCHES * 2 + 10;
      for (let i = 1; i <= lagBatches; i++) await s.append([{ body: `b${i}-x` }, { body: `b${i}-y` }]);
      assert.equal(consumer.records.length, 1, "the consumer did not move while the batches piled up");
      slow.resolve();
      const expected = 1 + 2 * lagBatches;
      const records = await consumer.waitFor(expected);
      assert.deepEqual(seqNums(records), Array.from({ length: expected }, (_, i) => i));
      assert.equal(texts(records)[expected - 1], `b${lagBatches}-y`);
      await s.append([{ body: "live again" }]);
      assert.deepEqual(texts(await consumer.waitFor(expected + 1)).at(-1), "live again");
      await session.close();
      assert.equal((await consumer.done).length, expected + 1);
    }));

  it("does not lose or repeat records when appends race a follower that keeps falling behind", () =>
    withStream(async (s) => {
      let pulls = 0;
      const session = s.read({ from: { seqNum: 0 }, follow: true });
      // Yield to the event loop on every 7th record: appends overtake the reader again and again.
      const consumer = consume(session, async () => {
        if (++pulls % 7 === 0) await settle();
      });
      const total = 300;
      const writers = Array.from({ length: 3 }, async (_, w) => {
        for (let i = 0; i < total / 3; i++) await s.append([{ body: `w${w}-${i}` }]);
      });
      await Promise.all(writers);
      const records = await consumer.waitFor(total);
      assert.deepEqual(seqNums(records), Array.from({ length: total }, (_, i) => i));
      assert.equal(new Set(texts(records)).size, total);
      await session.close();
      await consumer.done;
    }));
});
