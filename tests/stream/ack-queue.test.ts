import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InternalError, SeqNumMismatchError, StorageError, type StreamPosition } from "../../src/errors.js";
import { AckQueue, type PendingReply } from "../../src/stream/ack-queue.js";

type Event = { label: string; tail?: StreamPosition; error?: unknown };

/** A queue plus a log of what was delivered or failed, in order. */
function harness(stable: StreamPosition = { seqNum: 0, timestamp: 0 }) {
  const queue = new AckQueue(stable);
  const events: Event[] = [];
  const reply = (label: string, dependencySeq: number): PendingReply => ({
    dependencySeq,
    deliver: (tail) => events.push({ label, tail }),
    fail: (error) => events.push({ label, error }),
  });
  return { queue, events, reply, labels: () => events.map((e) => e.label) };
}

const pos = (seqNum: number, timestamp = seqNum * 10): StreamPosition => ({ seqNum, timestamp });

describe("AckQueue", () => {
  it("releases acks only once the stable tail reaches them, in order, with the stable tail", () => {
    const { queue, events, reply, labels } = harness();
    queue.pushAccepted(reply("a", 1));
    queue.pushAccepted(reply("b", 2));
    queue.pushAccepted(reply("c", 3));
    queue.onStable(pos(0));
    assert.deepEqual(labels(), []);
    queue.onStable(pos(1));
    assert.deepEqual(events, [{ label: "a", tail: pos(1) }]);
    queue.onStable(pos(2));
    assert.deepEqual(labels(), ["a", "b"]);
    assert.equal(queue.length, 1);
  });

  it("releases several acks on one jump of the stable tail", () => {
    const { queue, events, reply } = harness();
    queue.pushAccepted(reply("a", 2));
    queue.pushAccepted(reply("b", 5));
    queue.pushAccepted(reply("c", 9));
    queue.onStable(pos(9));
    assert.deepEqual(events, [
      { label: "a", tail: pos(9) },
      { label: "b", tail: pos(9) },
      { label: "c", tail: pos(9) },
    ]);
    assert.equal(queue.length, 0);
  });

  it("holds a rejection until the state it was judged against is stable, behind the appends before it", () => {
    const { queue, reply, labels } = harness();
    queue.pushAccepted(reply("a", 3));
    queue.pushRejected(reply("mismatch@3", 3)); // judged against the tail after "a", not yet durable
    queue.pushAccepted(reply("b", 6));
    queue.onStable(pos(2));
    assert.deepEqual(labels(), []);
    queue.onStable(pos(3));
    assert.deepEqual(labels(), ["a", "mismatch@3"]);
    queue.onStable(pos(6));
    assert.deepEqual(labels(), ["a", "mismatch@3", "b"]);
  });

  it("inserts a rejection at its sorted position among pending appends", () => {
    const { queue, reply, labels } = harness();
    queue.pushAccepted(reply("a", 3));
    queue.pushAccepted(reply("b", 6));
    queue.pushAccepted(reply("c", 9));
    queue.pushRejected(reply("fence@6", 6));
    queue.pushRejected(reply("fence@4", 4));
    queue.onStable(pos(9));
    assert.deepEqual(labels(), ["a", "fence@4", "b", "fence@6", "c"]);
  });

  it("answers a rejection at once when its state is already stable", () => {
    const { queue, events, reply } = harness(pos(5));
    queue.pushAccepted(reply("pending", 8));
    queue.pushRejected(reply("old-fence", 5));
    queue.pushRejected(reply("immediate", 0));
    assert.deepEqual(events, [
      { label: "old-fence", tail: pos(5) },
      { label: "immediate", tail: pos(5) },
    ]);
    assert.equal(queue.length, 1);
  });

  it("failAll fails every queued reply in order, including waiting rejections, and empties the queue", () => {
    const { queue, events, reply, labels } = harness();
    queue.pushAccepted(reply("a", 1));
    queue.pushRejected(reply("r", 1));
    queue.pushAccepted(reply("b", 4));
    const error = new StorageError("WAL put failed");
    queue.failAll(error);
    assert.deepEqual(labels(), ["a", "r", "b"]);
    assert.ok(events.every((e) => e.error === error && e.tail === undefined));
    assert.equal(queue.length, 0);
    queue.onStable(pos(4));
    assert.equal(events.length, 3, "nothing is delivered after failing");
  });

  it("accepts appends again after failAll, from the stable tail", () => {
    const { queue, reply, labels } = harness(pos(2));
    queue.pushAccepted(reply("a", 5));
    queue.failAll(new StorageError("down"));
    queue.pushAccepted(reply("b", 3));
    queue.onStable(pos(3));
    assert.deepEqual(labels(), ["a", "b"]);
  });

  it("carries a real condition error through deliver", () => {
    const queue = new AckQueue(pos(0));
    const rejected: unknown[] = [];
    queue.pushAccepted({ dependencySeq: 1, deliver: () => {}, fail: () => {} });
    queue.pushRejected({ dependencySeq: 1, deliver: () => rejected.push(new SeqNumMismatchError(1, 0)), fail: () => {} });
    assert.equal(rejected.length, 0);
    queue.onStable(pos(1));
    const [error] = rejected;
    assert.ok(error instanceof SeqNumMismatchError && error.expectedSeqNum === 1);
  });

  it("refuses broken invariants: non-increasing acks, a stable tail moving back, a rejection past every append", () => {
    const { queue, reply } = harness(pos(2));
    assert.throws(() => queue.pushAccepted(reply("x", 2)), InternalError);
    queue.pushAccepted(reply("a", 5));
    assert.throws(() => queue.pushAccepted(reply("y", 5)), InternalError);
    assert.throws(() => queue.pushRejected(reply("z", 6)), InternalError);
    queue.onStable(pos(3));
    assert.throws(() => queue.onStable(pos(2)), InternalError);
    assert.throws(() => queue.onStable({ seqNum: 3, timestamp: 29 }), InternalError);
  });

  it("delivers each reply once, sorted by dependency, only when stable, under random operations", () => {
    type Op = { kind: "accept"; records: number } | { kind: "reject"; back: number } | { kind: "stable"; step: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant("accept" as const), records: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ kind: fc.constant("reject" as const), back: fc.nat({ max: 8 }) }),
      fc.record({ kind: fc.constant("stable" as const), step: fc.nat({ max: 6 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const queue = new AckQueue(pos(0));
        const delivered: { dep: number; at: number; fromQueue: boolean }[] = [];
        let next = 0; // the next assignable seq (end of the last accepted append)
        let durable = 0;
        let pushed = 0;
        let releasing = false;
        const reply = (dep: number): PendingReply => ({
          dependencySeq: dep,
          deliver: (tail) => delivered.push({ dep, at: tail.seqNum, fromQueue: releasing }),
          fail: () => assert.fail("nothing fails here"),
        });
        const stable = (seqNum: number) => {
          releasing = true;
          queue.onStable(pos(seqNum));
          releasing = false;
        };
        for (const o of ops) {
          if (o.kind === "accept") queue.pushAccepted(reply((next += o.records)));
          else if (o.kind === "reject") queue.pushRejected(reply(Math.max(0, next - o.back)));
          else stable((durable = Math.min(next, durable + o.step)));
          if (o.kind !== "stable") pushed++;
          assert.ok(delivered.every((d) => d.dep <= d.at), "a reply was delivered before it was stable");
          assert.equal(queue.length + delivered.length, pushed);
        }
        stable(next);
        assert.equal(delivered.length, pushed, "every reply is delivered exactly once in the end");
        const fromQueue = delivered.filter((d) => d.fromQueue).map((d) => d.dep);
        assert.deepEqual(fromQueue, [...fromQueue].sort((a, b) => a - b), "queued replies leave in dependency order");
      }),
    );
  });
});
