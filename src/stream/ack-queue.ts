/**
 * The ordered reply queue of one streamer, with durability dependencies (s2-lite's
 * `PendingAppends`, brief section 3.8).
 *
 * Every reply, ack or rejection, waits until the stream's stable (durable) tail reaches its
 * dependency: a client is never told "acked" or "condition failed" on the strength of state a
 * later storage failure could take back.
 *
 *   accepted append, records [s, e)   -> dependency e  (pushed at the back; strictly increasing)
 *   rejection judged against state up to n -> dependency n (sorted in; delivered at once if n <= stable)
 *
 *   queue:  [acc 3] [rej 3] [acc 6] [acc 9]      onStable({ seqNum: 6 }) delivers the first three
 *
 * Invariants: dependencies in the queue never decrease from front to back; the stable tail never
 * moves backwards; every queued dependency is above it. Pure and synchronous: no timers, no I/O.
 * Callbacks run synchronously, in order, after the entry left the queue; they must not throw.
 */
import Denque from "denque";
import { type StreamPosition, assert } from "../errors.js";

/** One reply waiting for durability. */
export interface PendingReply {
  /** The reply may be delivered once the stable tail's seqNum is at least this. */
  readonly dependencySeq: number;
  /** Delivers the reply (resolve the ack, or reject with the condition error); `tail` is the stable tail. */
  deliver(tail: StreamPosition): void;
  /** Fails the reply instead, because the state it depends on may never become durable. */
  fail(error: unknown): void;
}

export class AckQueue {
  readonly #queue = new Denque<PendingReply>();
  #stable: StreamPosition;
  /** Dependency of the last accepted append; the stable seqNum when none is pending. */
  #lastAcceptedSeq: number;

  /** `stable` is the durable tail the streamer loaded. */
  constructor(stable: StreamPosition) {
    this.#stable = { ...stable };
    this.#lastAcceptedSeq = stable.seqNum;
  }

  /** The stable (durable) tail: the latest position passed to `onStable`. */
  get stable(): StreamPosition {
    return { ...this.#stable };
  }

  /** Replies waiting. */
  get length(): number {
    return this.#queue.length;
  }

  /** Queues the reply of an accepted append; its dependency is the append's end seqNum. */
  pushAccepted(reply: PendingReply): void {
    const n = reply.dependencySeq;
    assert(Number.isSafeInteger(n), () => `dependencySeq must be a safe integer, got ${n}`);
    assert(n > this.#lastAcceptedSeq, () => `accepted dependency ${n} must exceed the previous one, ${this.#lastAcceptedSeq}`);
    const back = this.#queue.peekBack();
    assert(back === undefined || back.dependencySeq < n, () => `accepted dependency ${n} is not past the queue's back`);
    this.#lastAcceptedSeq = n;
    this.#queue.push(reply);
  }

  /**
   * Queues a rejection judged against state up to `dependencySeq`, or delivers it at once when
   * that state is already stable. The state it was judged against is stable or pending, so the
   * dependency can be no later than the last accepted append.
   */
  pushRejected(reply: PendingReply): void {
    const n = reply.dependencySeq;
    assert(Number.isSafeInteger(n) && n >= 0, () => `dependencySeq must be a safe integer >= 0, got ${n}`);
    if (n <= this.#stable.seqNum) {
      reply.deliver(this.stable);
      return;
    }
    assert(n <= this.#lastAcceptedSeq, () => `rejection dependency ${n} is past every pending append (${this.#lastAcceptedSeq})`);
    // Insert after every entry with a dependency <= n, so equal dependencies keep arrival order.
    let index = this.#queue.length;
    while (index > 0 && this.#queue.peekAt(index - 1)!.dependencySeq > n) index--;
    if (index === this.#queue.length) this.#queue.push(reply);
    else this.#queue.splice(index, 0, reply);
  }

  /** The stable tail advanced to `position`: delivers, in order, every reply it satisfies. */
  onStable(position: StreamPosition): void {
    assert(position.seqNum >= this.#stable.seqNum, () => `stable tail moved back from ${this.#stable.seqNum} to ${position.seqNum}`);
    assert(position.timestamp >= this.#stable.timestamp, () => `stable timestamp moved back to ${position.timestamp}`);
    this.#stable = { ...position };
    if (this.#lastAcceptedSeq < position.seqNum) this.#lastAcceptedSeq = position.seqNum;
    for (let head = this.#queue.peekFront(); head !== undefined; head = this.#queue.peekFront()) {
      if (head.dependencySeq > position.seqNum) return;
      this.#queue.shift();
      head.deliver(this.stable);
    }
  }

  /**
   * Fails every queued reply (rejections waiting for durability too), in order. The queue can be
   * used again afterwards from the same stable tail, though a streamer that failed usually reloads
   * its state and builds a new one.
   */
  failAll(error: unknown): void {
    this.#lastAcceptedSeq = this.#stable.seqNum;
    for (let head = this.#queue.shift(); head !== undefined; head = this.#queue.shift()) head.fail(error);
  }
}
