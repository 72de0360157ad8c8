/**
 * Interop (src/interop.ts): read sessions as Node Readables and web ReadableStreams, append
 * sinks as Node Writables and web WritableStreams, and splitLines(). Backpressure, cleanup
 * (destroying or cancelling ends the session), errors, AbortSignal, and the promise that a
 * pipeline into a sink resolves only once every record is durable.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import {
  MemoryStore,
  recordText,
  splitLines,
  toAppendWritable,
  toAppendWritableStream,
  toReadable,
  toReadableStream,
  type AppendAck,
  type ReadRecord,
} from "../src/index.js";
import { GatedStore } from "./helpers/gated-store.js";
import { bodies, collect, rejectsWithCode, texts, withStream } from "./helpers/stream-helpers.js";

/** Lets queued callbacks and in-memory store calls run: used only to show that nothing more happens. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function readAll(readable: Readable): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for await (const record of readable) out.push(record as ReadRecord);
  return out;
}

describe("toReadable", () => {
  it("yields the session's records in order and ends with it", async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(5));
      assert.deepEqual(texts(await readAll(toReadable(stream.read({ from: { seqNum: 0 } })))), ["r0", "r1", "r2", "r3", "r4"]);
    });
  });

  it("pulls from the session only as far as its buffer: an unread readable never reaches the tail", async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(100));
      const session = stream.read({ from: { seqNum: 0 } });
      let caughtUp = false;
      void session.caughtUp().then(() => (caughtUp = true));
      const readable = toReadable(session, { highWaterMark: 4 });
      await once(readable, "readable");
      await turns(50);
      assert.equal(readable.readableLength, 4, "it buffered exactly highWaterMark records");
      assert.equal(caughtUp, false, "the session was not drained behind the consumer's back");
      const records = await readAll(readable);
      assert.equal(records.length, 100);
      assert.equal(caughtUp, true);
    });
  });

  it("destroying it ends a following session that is waiting for records", { timeout: 10_000 }, async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(2));
      const session = stream.read({ from: { seqNum: 0 }, follow: true });
      const readable = toReadable(session);
      const seen: ReadRecord[] = [];
      readable.on("data", (record: ReadRecord) => seen.push(record));
      await session.caughtUp();
      while (seen.length < 2) await once(readable, "data");
      readable.destroy();
      await once(readable, "close"); // waits for the session's pending next() to end
      assert.equal(seen.length, 2);
      // The stream can still be appended to and read: nothing was left holding it.
      await stream.append(bodies(1, "after"));
      assert.deepEqual(texts(await collect(stream.read({ from: { seqNum: 2 } }))), ["after0"]);
    });
  });

  it("fails with the session's error (a missing stream)", async () => {
    await withStream(async (_stream, t) => {
      const ghost = await t.log.openStream("ghost", { createIfMissing: true });
      await t.log.deleteStream("ghost");
      const readable = toReadable(ghost.read({ from: { seqNum: 0 } }));
      await rejectsWithCode(readAll(readable), "stream_not_found");
    });
  });

  it("is destroyed with an AbortedError when its signal fires, and closes the session", { timeout: 10_000 }, async () => {
    await withStream(async (stream) => {
      const controller = new AbortController();
      const session = stream.read({ follow: true });
      const readable = toReadable(session, { signal: controller.signal });
      const consumed = readAll(readable);
      await session.caughtUp();
      controller.abort();
      await rejectsWithCode(consumed, "aborted");
    });
  });
});

describe("toReadableStream", () => {
  it("is async-iterable over the session's records", async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(3));
      const out: string[] = [];
      for await (const record of toReadableStream(stream.read({ from: { seqNum: 0 } }))) out.push(recordText(record));
      assert.deepEqual(out, ["r0", "r1", "r2"]);
    });
  });

  it("cancelling its reader ends a following session", { timeout: 10_000 }, async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(1));
      const session = stream.read({ from: { seqNum: 0 }, follow: true });
      const reader = toReadableStream(session, { highWaterMark: 1 }).getReader();
      assert.equal(recordText((await reader.read()).value!), "r0");
      await session.caughtUp();
      await reader.cancel();
      assert.deepEqual(await reader.read(), { done: true, value: undefined });
    });
  });

  it("errors with the session's error, and with AbortedError when its signal fires", async () => {
    await withStream(async (stream, t) => {
      const ghost = await t.log.openStream("ghost", { createIfMissing: true });
      await t.log.deleteStream("ghost");
      await rejectsWithCode(toReadableStream(ghost.read({ from: { seqNum: 0 } })).getReader().read(), "stream_not_found");
      const controller = new AbortController();
      const session = stream.read({ follow: true });
      const reader = toReadableStream(session, { signal: controller.signal }).getReader();
      const pending = reader.read();
      await session.caughtUp();
      controller.abort();
      await rejectsWithCode(pending, "aborted");
    });
  });
});

describe("toAppendWritable", () => {
  it("pipeline(file bytes, splitLines(), sink) appends one record per line, in order", async () => {
    await withStream(async (stream) => {
      const file = Readable.from([Buffer.from("alpha\nbe"), Buffer.from("ta\ngamma\n"), Buffer.from("delta")]);
      await pipeline(file, splitLines(), toAppendWritable(stream));
      assert.deepEqual(texts(await collect(stream.read({ from: { seqNum: 0 } }))), ["alpha", "beta", "gamma", "delta"]);
    });
  });

  it("finishes only after the last append is durable", { timeout: 10_000 }, async () => {
    const gated = new GatedStore(new MemoryStore());
    await withStream(
      async (stream) => {
        const gate = gated.hold((call) => call.kind === "put" && call.key.startsWith("wal/"));
        const acks: AppendAck[] = [];
        let finished = false;
        const done = pipeline(Readable.from(["a", "b", "c"]), toAppendWritable(stream, { onAck: (ack) => acks.push(ack) })).then(() => (finished = true));
        await gate.reached;
        await turns(20);
        assert.equal(finished, false, "the pipeline waits while the WAL write is held");
        await gate.release();
        await done;
        assert.equal(acks.reduce((sum, ack) => sum + ack.end.seqNum - ack.start.seqNum, 0), 3);
        assert.equal((await stream.checkTail()).seqNum, 3);
      },
      { store: gated },
    );
  });

  it("merges chunks written while it is busy into batches, but keeps an array chunk as one atomic batch", async () => {
    await withStream(async (stream) => {
      const acks: AppendAck[] = [];
      const sink = toAppendWritable(stream, { onAck: (ack) => acks.push(ack), highWaterMark: 1000 });
      sink.cork();
      for (let i = 0; i < 50; i++) sink.write(`line ${i}`);
      sink.write([{ body: "x" }, { body: "y" }]);
      sink.write(Buffer.from("bytes"));
      sink.write({ body: "record", headers: [["k", "v"]] });
      sink.uncork();
      sink.end();
      await once(sink, "finish");
      const counts = acks.map((ack) => ack.end.seqNum - ack.start.seqNum);
      assert.ok(acks.length < 53, `50 corked lines went in fewer appends (${counts.join(",")})`);
      assert.ok(counts.includes(2) && acks.some((ack) => ack.start.seqNum === 50 && ack.end.seqNum === 52), "the array chunk is its own append");
      const records = await collect(stream.read({ from: { seqNum: 0 } }));
      assert.equal(records.length, 54);
      assert.deepEqual(texts(records).slice(48), ["line 48", "line 49", "x", "y", "bytes", "record"]);
    });
  });

  it("with matchSeqNum, appends only if nobody appended before it; the pipeline rejects with the condition's error", async () => {
    await withStream(async (stream) => {
      await pipeline(Readable.from(["a", "b"]), toAppendWritable(stream, { matchSeqNum: 0 }));
      await pipeline(Readable.from(["c"]), toAppendWritable(stream, { matchSeqNum: 2 }));
      await rejectsWithCode(pipeline(Readable.from(["late"]), toAppendWritable(stream, { matchSeqNum: 1 })), "seq_num_mismatch");
      assert.deepEqual(texts(await collect(stream.read({ from: { seqNum: 0 } }))), ["a", "b", "c"]);
    });
  });

  it("rejects the pipeline with a validation error for a bad chunk", async () => {
    await withStream(async (stream) => {
      await rejectsWithCode(pipeline(Readable.from([{ body: 42 }]), toAppendWritable(stream)), "validation");
    });
  });

  it("aborting destroys it with AbortedError once what it submitted has settled", { timeout: 10_000 }, async () => {
    const gated = new GatedStore(new MemoryStore());
    await withStream(
      async (stream) => {
        const gate = gated.hold((call) => call.kind === "put" && call.key.startsWith("wal/"));
        const controller = new AbortController();
        const sink = toAppendWritable(stream, { signal: controller.signal });
        sink.write("held");
        await gate.reached;
        let closed = false;
        sink.on("close", () => (closed = true));
        const errored = once(sink, "error");
        controller.abort();
        await turns(20);
        assert.equal(closed, false, "it does not close while an append is in flight");
        await gate.release();
        const [error] = (await errored) as [{ code?: string }];
        assert.equal(error.code, "aborted");
        await finished(sink).catch(() => undefined);
        assert.equal(closed, true);
        assert.equal((await stream.checkTail()).seqNum, 1, "the append in flight when it aborted still became durable (outcome unknown)");
      },
      { store: gated },
    );
  });

  it("appends through a caller's append session without closing it", async () => {
    await withStream(async (stream) => {
      const session = stream.appendSession();
      await pipeline(Readable.from(["a", "b"]), toAppendWritable(session));
      const ticket = await session.submit([{ body: "c" }]);
      assert.equal((await ticket.ack()).start.seqNum, 2);
      await session.close();
    });
  });
});

describe("toAppendWritableStream", () => {
  it("appends each chunk; close() resolves when all are durable", async () => {
    await withStream(async (stream) => {
      const writer = toAppendWritableStream(stream).getWriter();
      await writer.write("one");
      await writer.write([{ body: "two" }, { body: "three" }]);
      await writer.write(new TextEncoder().encode("four"));
      await writer.close();
      assert.equal((await stream.checkTail()).seqNum, 4);
      assert.deepEqual(texts(await collect(stream.read({ from: { seqNum: 0 } }))), ["one", "two", "three", "four"]);
    });
  });

  it("errors with the first failed append", async () => {
    await withStream(async (stream) => {
      await stream.append(bodies(1));
      const writer = toAppendWritableStream(stream, { matchSeqNum: 0 }).getWriter();
      // The failure shows at the write (refused when submitted) or at close (failed when acked);
      // either way the stream errors with it.
      const outcomes = await Promise.allSettled([writer.write("x"), writer.close()]);
      assert.ok(outcomes.some((o) => o.status === "rejected"));
      await rejectsWithCode(writer.closed, "seq_num_mismatch");
    });
  });

  it("errors with AbortedError when its signal fires", async () => {
    await withStream(async (stream) => {
      const controller = new AbortController();
      const writer = toAppendWritableStream(stream, { signal: controller.signal }).getWriter();
      controller.abort();
      await rejectsWithCode(writer.write("x"), "aborted");
      assert.equal((await stream.checkTail()).seqNum, 0);
    });
  });
});

describe("splitLines", () => {
  async function split(chunks: (string | Buffer)[], maxLineBytes?: number): Promise<string[]> {
    const out: string[] = [];
    await pipeline(
      Readable.from(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))),
      splitLines(maxLineBytes === undefined ? {} : { maxLineBytes }),
      new Writable({
        objectMode: true,
        write(line: Buffer, _encoding, callback) {
          out.push(line.toString("utf8"));
          callback();
        },
      }),
    );
    return out;
  }

  it("splits on newlines across chunk boundaries, keeps empty lines and a CR, and emits a last line without newline", async () => {
    assert.deepEqual(await split(["a\nb", "c\n\nd\r\n", "e"]), ["a", "bc", "", "d\r", "e"]);
    assert.deepEqual(await split(["x\n"]), ["x"]);
    const euro = Buffer.from("€\n");
    assert.deepEqual(await split([euro.subarray(0, 1), euro.subarray(1)]), ["€"], "a multi-byte character split between chunks");
  });

  it("fails with a validation error on a line longer than maxLineBytes, and accepts one at the limit", async () => {
    assert.deepEqual(await split(["1234\n"], 4), ["1234"]);
    await rejectsWithCode(split(["12", "345\n"], 4), "validation");
    await rejectsWithCode(split(["12345"], 4), "validation");
  });
});
