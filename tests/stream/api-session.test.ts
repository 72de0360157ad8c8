/**
 * Behaviour tests of append sessions (`stream.appendSession()`) through the public API:
 * pipelined appends acknowledged in submit order, the first error ending the session (and only
 * what came before it being stored), close() draining, backpressure from `maxInflightBytes`,
 * and large batches. s2-lite's append-session tests in data_plane/append.rs (research brief
 * sections 3.9 and 11).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LocalStore,
  SeqNumMismatchError,
  openLog,
  type AppendAck,
  type AppendOptions,
  type AppendRecord,
  type AppendSession,
  type AppendTicket,
} from "../../src/index.js";
import {
  HoldingStore,
  bodies,
  collect,
  recordOfMeteredSize,
  rejectsWithCode,
  seqNums,
  settle,
  texts,
  withStream,
} from "../helpers/stream-helpers.js";

describe("append session: acks", () => {
  it("acknowledges three one-record batches as 0..1, 1..2, 2..3, and reads return them in order", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const tickets = [];
      for (const body of ["a", "b", "c"]) tickets.push(await session.submit([{ body }]));
      const acks = await Promise.all(tickets.map((t) => t.ack()));
      assert.deepEqual(
        acks.map((a) => [a.start.seqNum, a.end.seqNum]),
        [
          [0, 1],
          [1, 2],
          [2, 3],
        ],
      );
      await session.close();
      assert.equal((await s.checkTail()).seqNum, 3);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["a", "b", "c"]);
    }));

  it("acknowledges batches of several records as contiguous ranges (0..2, then 2..5)", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const first = await session.submit(bodies(2));
      const second = await session.submit(bodies(3, "x"));
      assert.deepEqual([(await first.ack()).end.seqNum, (await second.ack()).start.seqNum, (await second.ack()).end.seqNum], [2, 2, 5]);
      await session.close();
      assert.equal((await s.checkTail()).seqNum, 5);
    }));

  it("keeps 32 pipelined batches in order: sequential acks, tail at or past end and never decreasing, reads in submit order", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const tickets: AppendTicket[] = [];
      for (let i = 0; i < 32; i++) tickets.push(await session.submit([{ body: `p${i}` }, { body: `q${i}` }]));
      const order: number[] = [];
      const acks = await Promise.all(tickets.map((t, i) => t.ack().then((ack) => (order.push(i), ack))));
      assert.deepEqual(order, Array.from({ length: 32 }, (_, i) => i), "acks resolve in submit order");
      let previous: AppendAck | undefined;
      for (const ack of acks) {
        if (previous !== undefined) {
          assert.equal(ack.start.seqNum, previous.end.seqNum);
          assert.ok(ack.tail.seqNum >= previous.tail.seqNum, "the ack tail never decreases");
        }
        assert.ok(ack.tail.seqNum >= ack.end.seqNum);
        previous = ack;
      }
      await session.close();
      const records = await collect(s.read({ from: { seqNum: 0 } }));
      assert.deepEqual(seqNums(records), Array.from({ length: 64 }, (_, i) => i));
      assert.deepEqual(texts(records).slice(0, 4), ["p0", "q0", "p1", "q1"]);
    }));

  it("keeps submit order for submits that are not awaited one by one", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const submits = Array.from({ length: 20 }, (_, i) => session.submit([{ body: `n${i}` }]));
      const acks = await Promise.all((await Promise.all(submits)).map((t) => t.ack()));
      assert.deepEqual(acks.map((a) => a.start.seqNum), Array.from({ length: 20 }, (_, i) => i));
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), Array.from({ length: 20 }, (_, i) => `n${i}`));
      await session.close();
    }));

  it("accepts matchSeqNum conditions inside a session, pipelined (an exactly-once producer)", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const tickets: AppendTicket[] = [];
      for (let i = 0; i < 10; i++) tickets.push(await session.submit([{ body: `m${i}` }], { matchSeqNum: i }));
      assert.deepEqual((await Promise.all(tickets.map((t) => t.ack()))).map((a) => a.start.seqNum), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await session.close();
    }));

  it("accepts the default empty fencing token inside a session", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const ack = await (await session.submit([{ body: "x" }], { fencingToken: "" })).ack();
      assert.equal(ack.start.seqNum, 0);
      await session.close();
    }));

  it("interleaves with plain appends and other sessions on the same stream, each in its own order", () =>
    withStream(async (s) => {
      const one = s.appendSession();
      const two = s.appendSession();
      const pending: Promise<AppendAck>[] = [];
      for (let i = 0; i < 5; i++) {
        pending.push((await one.submit([{ body: `one-${i}` }])).ack());
        pending.push((await two.submit([{ body: `two-${i}` }])).ack());
        pending.push(s.append([{ body: `plain-${i}` }]));
      }
      await Promise.all(pending);
      await Promise.all([one.close(), two.close()]);
      const got = texts(await collect(s.read({ from: { seqNum: 0 } })));
      assert.equal(got.length, 15);
      for (const who of ["one", "two", "plain"]) {
        assert.deepEqual(got.filter((b) => b.startsWith(`${who}-`)), Array.from({ length: 5 }, (_, i) => `${who}-${i}`));
      }
    }));
});

/** The ack of one submit, or the error that failed it, whether submit() or ack() reported it. */
function submitAndAck(session: AppendSession, records: AppendRecord[], options?: AppendOptions): Promise<AppendAck> {
  return session.submit(records, options).then((ticket) => ticket.ack());
}

describe("append session: the first error ends it", () => {
  it("fails a first submit whose matchSeqNum mismatches with seq_num_mismatch", () =>
    withStream(async (s) => {
      await s.append([{ body: "existing" }]);
      const session = s.appendSession();
      const ticket = await session.submit([{ body: "x" }], { matchSeqNum: 0 });
      const error = await rejectsWithCode(ticket.ack(), "seq_num_mismatch");
      assert.equal(error.expectedSeqNum, 1);
      assert.equal(session.error, error);
    }));

  it("after a seqNum mismatch fails everything submitted after it; only what came before is stored", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const outcomes = await Promise.allSettled([
        submitAndAck(session, [{ body: "first" }], { matchSeqNum: 0 }),
        submitAndAck(session, [{ body: "bad" }], { matchSeqNum: 5 }),
        submitAndAck(session, [{ body: "next" }]),
      ]);
      assert.equal(outcomes[0].status, "fulfilled");
      assert.equal(outcomes[1].status, "rejected");
      assert.ok((outcomes[1] as PromiseRejectedResult).reason instanceof SeqNumMismatchError);
      assert.equal(outcomes[2].status, "rejected", "the append after the failure is never written");
      assert.equal((outcomes[2] as PromiseRejectedResult).reason.code, "seq_num_mismatch");
      await rejectsWithCode(session.submit([{ body: "later" }]), "seq_num_mismatch");
      await session.close();
      assert.equal((await s.checkTail()).seqNum, 1);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["first"]);
    }));

  it("ends the session on a fencing token mismatch too, storing nothing after it", () =>
    withStream(async (s) => {
      await s.fence("current");
      const session = s.appendSession();
      const outcomes = await Promise.allSettled([
        submitAndAck(session, [{ body: "ok" }], { fencingToken: "current" }),
        submitAndAck(session, [{ body: "stale" }], { fencingToken: "old" }),
        submitAndAck(session, [{ body: "after" }], { fencingToken: "current" }),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected", "rejected"]);
      assert.equal((outcomes[1] as PromiseRejectedResult).reason.code, "fencing_token_mismatch");
      await session.close();
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 1 } }))), ["ok"]);
    }));

  it(
    "reports a condition failure only once the appends before it are durable, through submit() as well as ack()",
    async () => {
      const store = new HoldingStore();
      await withStream(
        async (s) => {
          const session = s.appendSession();
          store.holdWal();
          const first = await session.submit([{ body: "first" }], { matchSeqNum: 0 });
          await store.whenHeld();
          const bad = await session.submit([{ body: "bad" }], { matchSeqNum: 5 });
          bad.ack().catch(() => undefined);
          let answered = false;
          const third = session.submit([{ body: "next" }]).then(
            (t) => t.ack(),
            () => undefined,
          );
          third.then(
            () => (answered = true),
            () => (answered = true),
          );
          await settle(3);
          const early = answered || session.error !== undefined;
          store.release();
          await first.ack();
          await third.catch(() => undefined);
          await session.close();
          assert.equal(early, false, "the failure was reported before the first append was durable");
        },
        { store },
      );
    },
  );

  it("rejects an invalid submit with validation and writes nothing for it", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      await rejectsWithCode(session.submit([] as never), "validation");
      await rejectsWithCode(session.submit([{ body: 5 }] as never), "validation");
      await rejectsWithCode(session.submit([{ body: "x" }], { matchSeqNum: -1 } as never), "validation");
      await session.close();
      assert.equal((await s.checkTail()).seqNum, 0);
    }));
});

describe("append session: closing and backpressure", () => {
  it("closes an empty session at once, leaving the stream empty", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      await session.close();
      assert.deepEqual(await s.checkTail(), { seqNum: 0, timestamp: 0 });
    }));

  it("drains on close(): it resolves after every submitted append is acknowledged, and refuses later submits", () =>
    withStream(async (s) => {
      const session = s.appendSession();
      const settled: boolean[] = [];
      for (let i = 0; i < 10; i++) {
        const ticket = await session.submit([{ body: `d${i}` }]);
        settled.push(false);
        void ticket.ack().then(() => (settled[i] = true));
      }
      await session.close();
      await settle(); // let the ack callbacks above run after the acks themselves
      assert.deepEqual(settled, Array(10).fill(true));
      await rejectsWithCode(session.submit([{ body: "late" }]), "closed");
      assert.equal((await s.checkTail()).seqNum, 10);
    }));

  it("makes submit wait for room under maxInflightBytes until an earlier append is acknowledged", async () => {
    const store = new HoldingStore();
    await withStream(
      async (s) => {
        const session = s.appendSession({ maxInflightBytes: 100 });
        store.holdWal();
        const first = await session.submit([recordOfMeteredSize(60)]);
        await store.whenHeld();
        let admitted = false;
        const second = session.submit([recordOfMeteredSize(60)]).then((ticket) => {
          admitted = true;
          return ticket;
        });
        await settle(3);
        assert.equal(admitted, false, "60 + 60 bytes do not fit 100: the second submit waits");
        store.release();
        await first.ack();
        await (await second).ack();
        assert.equal(admitted, true);
        await session.close();
      },
      { store },
    );
  });

  it("refuses a maxInflightBytes that is not a positive integer with validation", () =>
    withStream(async (s) => {
      for (const bad of [0, -1, 1.5, "1000"]) {
        assert.throws(() => s.appendSession({ maxInflightBytes: bad as never }), { code: "validation" });
      }
    }));

  it("acknowledges 50 batches of one 100 KB record each; the tail is 50", () =>
    withStream(async (s) => {
      const session = s.appendSession({ maxInflightBytes: 2 * 1024 * 1024 });
      const body = new Uint8Array(100 * 1024).fill(0x42);
      const tickets: AppendTicket[] = [];
      for (let i = 0; i < 50; i++) tickets.push(await session.submit([{ body }]));
      const acks = await Promise.all(tickets.map((t) => t.ack()));
      assert.equal(acks.at(-1)!.end.seqNum, 50);
      await session.close();
      assert.equal((await s.checkTail()).seqNum, 50);
      const last = await collect(s.read({ from: { tailOffset: 1 } }));
      assert.deepEqual(last[0]!.body, body);
    }));
});

describe("append session: a producer that never yields", () => {
  it("keeps making records durable while the producer loops on await submit() alone", async () => {
    const root = await mkdtemp(join(tmpdir(), "durastream-session-"));
    const log = await openLog({ store: new LocalStore(root) });
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      const session = stream.appendSession();
      const records = Array.from({ length: 1000 }, () => ({ body: "tiny" }));
      const tickets: AppendTicket[] = [];
      let acked = 0;
      let ackedDuringLoop = 0;
      for (let i = 0; i < 300; i++) {
        const ticket = await session.submit(records);
        void ticket.ack().then(() => acked++);
        tickets.push(ticket);
      }
      ackedDuringLoop = acked;
      const acks = await Promise.all(tickets.map((ticket) => ticket.ack()));
      await session.close();
      // Real I/O completes only when the event loop gets a turn: the session must give it one.
      assert.ok(ackedDuringLoop > 0, "no append was acknowledged while the producer was looping");
      assert.equal(acks.at(-1)!.end.seqNum, 300_000);
      assert.equal((await stream.checkTail()).seqNum, 300_000);
    } finally {
      await log.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});
