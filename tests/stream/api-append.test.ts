/**
 * Behaviour tests of `stream.append()` through the public API: sequencing, acks, conditions
 * (matchSeqNum, fencing), timestamp modes, concurrency, every append limit at and one past its
 * boundary, and input validation. s2-lite's data_plane/append.rs and streamer.rs checklist
 * (research brief section 11), with docs/design.md winning where the two differ.
 */
import assert from "node:assert/strict";
import { INFLIGHT_RECORD_OVERHEAD_BYTES } from "../../src/limits.js";
import { describe, it } from "node:test";
import {
  DurastreamError,
  FencingTokenMismatchError,
  MAX_APPEND_BYTES,
  MAX_APPEND_RECORDS,
  MAX_FENCING_TOKEN_BYTES,
  MAX_RECORD_BYTES,
  SeqNumMismatchError,
  ValidationError,
  fenceRecord,
  headerText,
  meteredBytes,
  recordText,
} from "../../src/index.js";
import {
  HoldingStore,
  T0,
  bodies,
  collect,
  recordOfMeteredSize,
  rejectsWithCode,
  seqNums,
  settle,
  texts,
  withLog,
  withStream,
} from "../helpers/stream-helpers.js";

describe("append: sequencing and acks", () => {
  it("gives the records of one batch consecutive seqNums from 0, and the ack spans them", () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(3));
      assert.deepEqual(ack, {
        start: { seqNum: 0, timestamp: T0 },
        end: { seqNum: 3, timestamp: T0 },
        tail: { seqNum: 3, timestamp: T0 },
      });
      const next = await s.append(bodies(2, "x"));
      assert.equal(next.start.seqNum, 3);
      assert.equal(next.end.seqNum, 5);
      assert.deepEqual(seqNums(await collect(s.read({ from: { seqNum: 0 } }))), [0, 1, 2, 3, 4]);
    }));

  it("reports a fresh stream's tail as seqNum 0, timestamp 0, and after an append the tail equals ack.end", () =>
    withStream(async (s) => {
      assert.deepEqual(await s.checkTail(), { seqNum: 0, timestamp: 0 });
      const ack = await s.append([{ body: "a" }, { body: "b", timestamp: T0 - 5 }]);
      assert.deepEqual(await s.checkTail(), ack.end);
    }));

  it("stores string bodies and headers as UTF-8 and byte bodies byte for byte, keeping header order and repeats", () =>
    withStream(async (s) => {
      const binary = Uint8Array.from({ length: 256 }, (_, i) => i);
      await s.append([
        { body: "héllo 😀", headers: [["type", "greeting"], ["type", "again"], [new Uint8Array([0xff]), "v"]] },
        { body: binary },
        { body: "" },
      ]);
      const [first, second, third] = await collect(s.read({ from: { seqNum: 0 } }));
      assert.equal(recordText(first!), "héllo 😀");
      assert.deepEqual(headerText(first!).slice(0, 2), [["type", "greeting"], ["type", "again"]]);
      assert.deepEqual(first!.headers[2]![0], new Uint8Array([0xff]));
      assert.deepEqual(second!.body, binary);
      assert.deepEqual(second!.headers, []);
      assert.equal(third!.body.length, 0);
    }));

  it("fixes the bytes when append() is called: changing the caller's buffer afterwards changes nothing stored", () =>
    withStream(async (s) => {
      const body = new TextEncoder().encode("original");
      const pending = s.append([{ body }]);
      body.fill(0x7a);
      await pending;
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["original"]);
    }));

  it("accepts a record read back from a stream as an append record (extra properties are ignored)", () =>
    withStream(async (s) => {
      await s.append([{ body: "copy me", headers: [["k", "v"]] }]);
      const [record] = await collect(s.read({ from: { seqNum: 0 } }));
      await s.append([record!]);
      const both = await collect(s.read({ from: { seqNum: 0 } }));
      assert.deepEqual(texts(both), ["copy me", "copy me"]);
      assert.deepEqual(headerText(both[1]!), [["k", "v"]]);
    }));

  it("delivers the acks of pipelined appends in the order they were called, each starting where the previous ended", () =>
    withStream(async (s) => {
      const order: number[] = [];
      const acks = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          s.append(bodies(i + 1, `b${i}-`)).then((ack) => {
            order.push(i);
            return ack;
          }),
        ),
      );
      assert.deepEqual(order, [...order].sort((a, b) => a - b));
      for (let i = 1; i < acks.length; i++) {
        assert.equal(acks[i]!.start.seqNum, acks[i - 1]!.end.seqNum);
        assert.ok(acks[i]!.tail.seqNum >= acks[i]!.end.seqNum);
        assert.ok(acks[i]!.tail.seqNum >= acks[i - 1]!.tail.seqNum, "the ack tail never decreases");
      }
      assert.equal(acks.at(-1)!.end.seqNum, 55);
    }));
});

describe("append: matchSeqNum", () => {
  it("appends when matchSeqNum equals the tail: 0 then 1 both succeed", () =>
    withStream(async (s) => {
      assert.equal((await s.append([{ body: "a" }], { matchSeqNum: 0 })).start.seqNum, 0);
      assert.equal((await s.append([{ body: "b" }], { matchSeqNum: 1 })).start.seqNum, 1);
    }));

  it("fails a mismatched matchSeqNum with seq_num_mismatch carrying the expected seqNum, and writes nothing", () =>
    withStream(async (s) => {
      await s.append(bodies(2));
      const error = await rejectsWithCode(s.append([{ body: "late" }], { matchSeqNum: 0 }), "seq_num_mismatch");
      assert.ok(error instanceof SeqNumMismatchError);
      assert.equal(error.expectedSeqNum, 2);
      assert.equal(error.outcome, "not_applied");
      assert.equal(error.retryable, false);
      await rejectsWithCode(s.append([{ body: "early" }], { matchSeqNum: 7 }), "seq_num_mismatch");
      assert.equal((await s.checkTail()).seqNum, 2);
      assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 0 } }))), ["r0", "r1"]);
    }));

  it("judges matchSeqNum against pending appends: pipelined appends with matchSeqNum 0 and 1 both succeed", () =>
    withStream(async (s) => {
      const [a, b] = await Promise.all([s.append([{ body: "a" }], { matchSeqNum: 0 }), s.append([{ body: "b" }], { matchSeqNum: 1 })]);
      assert.equal(a.start.seqNum, 0);
      assert.equal(b.start.seqNum, 1);
    }));

  it("lets exactly one of two concurrent appends with the same matchSeqNum succeed", () =>
    withStream(async (s) => {
      const results = await Promise.allSettled([s.append([{ body: "one" }], { matchSeqNum: 0 }), s.append([{ body: "two" }], { matchSeqNum: 0 })]);
      assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected")!;
      assert.equal((rejected.reason as DurastreamError).code, "seq_num_mismatch");
      assert.equal((rejected.reason as SeqNumMismatchError).expectedSeqNum, 1);
      assert.equal((await collect(s.read({ from: { seqNum: 0 } }))).length, 1);
    }));
});

describe("append: fencing", () => {
  it("sets a token with fence() compare-and-set from the empty token, and the fence is a record of the stream", () =>
    withStream(async (s) => {
      await s.append([{ body: "before" }]);
      const ack = await s.fence("writer-2", { fencingToken: "" });
      assert.equal(ack.start.seqNum, 1);
      assert.equal(ack.end.seqNum, 2);
      const records = await collect(s.read({ from: { seqNum: 0 } }));
      assert.equal(records.length, 2);
      assert.deepEqual(headerText(records[1]!), [["", "fence"]]);
      assert.equal(recordText(records[1]!), "writer-2");
    }));

  it("fails an append with the old token with fencing_token_mismatch carrying the current token, writing nothing", () =>
    withStream(async (s) => {
      await s.fence("updated-token");
      const error = await rejectsWithCode(s.append([{ body: "zombie" }], { fencingToken: "" }), "fencing_token_mismatch");
      assert.ok(error instanceof FencingTokenMismatchError);
      assert.equal(error.expectedFencingToken, "updated-token");
      assert.equal(error.outcome, "not_applied");
      assert.equal((await s.checkTail()).seqNum, 1);
    }));

  it("accepts an append with the new token, and never fences an append that carries no token", () =>
    withStream(async (s) => {
      await s.fence("t1");
      assert.equal((await s.append([{ body: "with" }], { fencingToken: "t1" })).start.seqNum, 1);
      assert.equal((await s.append([{ body: "without" }])).start.seqNum, 2);
    }));

  it("fails a fence whose fencingToken is not the current token, and leaves the token unchanged", () =>
    withStream(async (s) => {
      await s.fence("t1");
      const error = await rejectsWithCode(s.fence("t2", { fencingToken: "wrong" }), "fencing_token_mismatch");
      assert.equal(error.expectedFencingToken, "t1");
      await s.append([{ body: "ok" }], { fencingToken: "t1" });
      await rejectsWithCode(s.append([{ body: "no" }], { fencingToken: "t2" }), "fencing_token_mismatch");
      await s.fence("t2", { fencingToken: "t1" });
      await s.append([{ body: "ok2" }], { fencingToken: "t2" });
    }));

  it("applies a fence inside a batch to the appends after it, and checks the batch against the token before it", () =>
    withStream(async (s) => {
      await s.append([{ body: "a" }, fenceRecord("mid"), { body: "b" }], { fencingToken: "" });
      await rejectsWithCode(s.append([{ body: "c" }], { fencingToken: "" }), "fencing_token_mismatch");
      await s.append([{ body: "c" }], { fencingToken: "mid" });
      assert.equal((await s.checkTail()).seqNum, 4);
    }));

  it("accepts a fence that also carries matchSeqNum only at the tail", () =>
    withStream(async (s) => {
      await s.append([{ body: "a" }]);
      await rejectsWithCode(s.fence("t", { matchSeqNum: 0 }), "seq_num_mismatch");
      await s.fence("t", { matchSeqNum: 1 });
      await rejectsWithCode(s.append([{ body: "x" }], { fencingToken: "" }), "fencing_token_mismatch");
    }));

  it("can reset the token to the empty string with fence('')", () =>
    withStream(async (s) => {
      await s.fence("t");
      await s.fence("", { fencingToken: "t" });
      await s.append([{ body: "x" }], { fencingToken: "" });
      await rejectsWithCode(s.append([{ body: "y" }], { fencingToken: "t" }), "fencing_token_mismatch");
    }));
});

describe("append: timestamps", () => {
  it("client-prefer (the default) keeps a client timestamp at or below arrival", () =>
    withStream(async (s) => {
      const ack = await s.append([{ body: "a", timestamp: T0 - 1000 }, { body: "b", timestamp: T0 }]);
      assert.deepEqual(ack.start, { seqNum: 0, timestamp: T0 - 1000 });
      assert.equal(ack.end.timestamp, T0);
    }));

  it("client-prefer gives a record without a timestamp its arrival time", () =>
    withStream(async (s, { clock }) => {
      clock.setNowMs(T0 + 123);
      const ack = await s.append([{ body: "a" }]);
      assert.equal(ack.start.timestamp, T0 + 123);
    }));

  it("raises out-of-order client timestamps inside a batch to the running maximum (1000, 900, 1100 -> 1000, 1000, 1100)", () =>
    withStream(async (s) => {
      await s.append([
        { body: "a", timestamp: 1000 },
        { body: "b", timestamp: 900 },
        { body: "c", timestamp: 1100 },
      ]);
      assert.deepEqual((await collect(s.read({ from: { seqNum: 0 } }))).map((r) => r.timestamp), [1000, 1000, 1100]);
    }));

  it("raises timestamps below the stream's previous maximum to it, across appends", () =>
    withStream(async (s) => {
      await s.append([{ body: "a", timestamp: 1000 }]);
      const ack = await s.append([{ body: "b", timestamp: 500 }, { body: "c", timestamp: 600 }]);
      assert.equal(ack.start.timestamp, 1000);
      assert.equal(ack.end.timestamp, 1000);
    }));

  it("client-require fails the whole batch with validation when one record has no timestamp, writing nothing", () =>
    withStream(
      async (s) => {
        const error = await rejectsWithCode(s.append([{ body: "a", timestamp: 1 }, { body: "b" }]), "validation");
        assert.equal(error.outcome, "not_applied");
        assert.match(error.message, /record 1/);
        assert.equal((await s.checkTail()).seqNum, 0);
        const ack = await s.append([{ body: "a", timestamp: 10 }, { body: "b", timestamp: 20 }]);
        assert.deepEqual([ack.start.timestamp, ack.end.timestamp], [10, 20]);
      },
      { config: { timestamping: { mode: "client-require" } } },
    ));

  it("arrival mode ignores client timestamps and uses the arrival time", () =>
    withStream(
      async (s, { clock }) => {
        clock.setNowMs(T0 + 7);
        const ack = await s.append([{ body: "a", timestamp: 5 }, { body: "b" }]);
        assert.equal(ack.start.timestamp, T0 + 7);
        assert.equal(ack.end.timestamp, T0 + 7);
      },
      { config: { timestamping: { mode: "arrival" } } },
    ));

  it("caps a client timestamp in the future at the arrival time", () =>
    withStream(async (s) => {
      const ack = await s.append([{ body: "future", timestamp: T0 + 60_000 }]);
      assert.equal(ack.start.timestamp, T0);
    }));

  it("keeps a future client timestamp when the stream is uncapped", () =>
    withStream(
      async (s) => {
        const ack = await s.append([{ body: "future", timestamp: T0 + 60_000 }]);
        assert.equal(ack.start.timestamp, T0 + 60_000);
        const next = await s.append([{ body: "now" }]);
        assert.equal(next.start.timestamp, T0 + 60_000, "later arrivals are raised to the maximum");
      },
      { config: { timestamping: { uncapped: true } } },
    ));

  it("never lets timestamps decrease across appends, even when the wall clock jumps back", () =>
    withStream(async (s, { clock }) => {
      clock.setNowMs(T0 + 5_000);
      await s.append([{ body: "a" }]);
      clock.setNowMs(T0);
      const pending = s.append([{ body: "b" }, { body: "c", timestamp: T0 - 9 }]);
      await clock.advance(5_000);
      const ack = await pending;
      assert.equal(ack.start.timestamp, T0 + 5_000);
      const timestamps = (await collect(s.read({ from: { seqNum: 0 } }))).map((r) => r.timestamp);
      assert.deepEqual(timestamps, [T0 + 5_000, T0 + 5_000, T0 + 5_000]);
    }));

  it(
    "keeps acknowledging appends when the wall clock jumps back",
    () =>
      withStream(async (s, { clock }) => {
        clock.setNowMs(T0 + 60_000);
        await s.append([{ body: "a" }]);
        clock.setNowMs(T0);
        let acked = false;
        const pending = s.append([{ body: "b" }]).then(() => (acked = true));
        await settle(20);
        try {
          assert.ok(acked, "an append after a backward wall-clock jump was not acknowledged");
        } finally {
          await clock.advance(60_000); // unstick the flush so the log can close
          await pending;
        }
      }),
  );
});

describe("append: concurrency", () => {
  it("sequences 20 parallel appends to one stream: tail 20, every body present exactly once, acks disjoint", () =>
    withStream(async (s) => {
      const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => s.append([{ body: `p${i}` }])));
      assert.equal((await s.checkTail()).seqNum, 20);
      assert.deepEqual(acks.map((a) => a.start.seqNum).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
      const got = texts(await collect(s.read({ from: { seqNum: 0 } })));
      assert.deepEqual([...got].sort(), Array.from({ length: 20 }, (_, i) => `p${i}`).sort());
      for (const [i, ack] of acks.entries()) assert.equal(got[ack.start.seqNum], `p${i}`);
    }));

  it("sequences parallel appends to many streams independently, each from 0, without mixing records", () =>
    withLog(async ({ log }) => {
      const names = Array.from({ length: 8 }, (_, i) => `stream-${i}`);
      const streams = await Promise.all(names.map((name) => log.openStream(name, { createIfMissing: true })));
      await Promise.all(streams.flatMap((s) => Array.from({ length: 10 }, (_, i) => s.append([{ body: `${s.name}:${i}` }]))));
      for (const s of streams) {
        assert.equal((await s.checkTail()).seqNum, 10);
        const got = texts(await collect(s.read({ from: { seqNum: 0 } })));
        assert.deepEqual([...got].sort(), Array.from({ length: 10 }, (_, i) => `${s.name}:${i}`).sort());
      }
    }));
});

describe("append: backpressure", () => {
  it("holds an append that does not fit the log's in-flight cap until earlier ones are acknowledged, and counts the wait", async () => {
    const store = new HoldingStore();
    await withStream(
      async (s, { log }) => {
        store.holdWal();
        const first = s.append([recordOfMeteredSize(600 * 1024)]);
        await store.whenHeld();
        assert.equal(log.metrics().inflightBytes, 600 * 1024 + INFLIGHT_RECORD_OVERHEAD_BYTES, "metered bytes plus the per-record overhead");
        let secondDone = false;
        const second = s.append([recordOfMeteredSize(600 * 1024)]).finally(() => (secondDone = true));
        await settle(3);
        assert.equal(secondDone, false, "600 KiB + 600 KiB do not fit a 1 MiB cap");
        assert.equal(log.metrics().backpressureWaits, 1);
        store.release();
        await first;
        assert.equal((await second).start.seqNum, 1);
        assert.equal(log.metrics().inflightBytes, 0);
      },
      { store, inflightBytes: 1024 * 1024 },
    );
  });

  it("fails an append aborted while it waits for room with aborted (not applied), and never writes it", async () => {
    const store = new HoldingStore();
    await withStream(
      async (s) => {
        store.holdWal();
        const first = s.append([recordOfMeteredSize(600 * 1024)]);
        await store.whenHeld();
        const controller = new AbortController();
        const waiting = s.append([recordOfMeteredSize(600 * 1024)], { signal: controller.signal });
        const behind = s.append([{ body: "behind" }]);
        await settle(3);
        controller.abort();
        const error = await rejectsWithCode(waiting, "aborted");
        assert.equal(error.outcome, "not_applied");
        store.release();
        await first;
        assert.equal((await behind).start.seqNum, 1, "the aborted append took no seqNum");
        assert.deepEqual(texts(await collect(s.read({ from: { seqNum: 1 } }))), ["behind"]);
      },
      { store, inflightBytes: 1024 * 1024 },
    );
  });
});

describe("append: limits", () => {
  it(`accepts ${MAX_APPEND_RECORDS} records in one append and refuses ${MAX_APPEND_RECORDS + 1} or 0 with validation`, () =>
    withStream(async (s) => {
      const ack = await s.append(bodies(MAX_APPEND_RECORDS));
      assert.equal(ack.end.seqNum, 1000);
      const error = await rejectsWithCode(s.append(bodies(MAX_APPEND_RECORDS + 1)), "validation");
      assert.match(error.message, /1001/);
      assert.match(error.message, /1000/);
      await rejectsWithCode(s.append([]), "validation");
      assert.equal((await s.checkTail()).seqNum, 1000);
    }));

  it("accepts a record of exactly 1 MiB metered (headers counted) and refuses one byte more", () =>
    withStream(async (s) => {
      const headers: [string, string][] = [["name", "value"]];
      const overhead = meteredBytes({ body: "", headers });
      assert.equal(overhead, 8 + 2 + 4 + 5);
      const body = new Uint8Array(MAX_RECORD_BYTES - overhead);
      assert.equal(meteredBytes({ body, headers }), MAX_RECORD_BYTES);
      await s.append([{ body, headers }]);
      const error = await rejectsWithCode(s.append([{ body: new Uint8Array(body.length + 1), headers }]), "validation");
      assert.match(error.message, new RegExp(String(MAX_RECORD_BYTES)));
      assert.equal((await s.checkTail()).seqNum, 1);
      const [stored] = await collect(s.read({ from: { seqNum: 0 } }));
      assert.equal(stored!.body.length, body.length);
    }));

  it("accepts a batch of exactly 1 MiB metered in total and refuses one byte more", () =>
    withStream(async (s) => {
      const half = MAX_APPEND_BYTES / 2;
      await s.append([recordOfMeteredSize(half), recordOfMeteredSize(half)]);
      await rejectsWithCode(s.append([recordOfMeteredSize(half), recordOfMeteredSize(half + 1)]), "validation");
      assert.equal((await s.checkTail()).seqNum, 2);
    }));

  it(`accepts a fencing token of ${MAX_FENCING_TOKEN_BYTES} UTF-8 bytes and refuses ${MAX_FENCING_TOKEN_BYTES + 1}, in fence() and as an option`, () =>
    withStream(async (s) => {
      const ascii = "t".repeat(MAX_FENCING_TOKEN_BYTES);
      const multiByte = "€".repeat(MAX_FENCING_TOKEN_BYTES / 3); // 3 bytes each: 36 bytes, 12 characters
      await s.fence(ascii);
      await s.append([{ body: "x" }], { fencingToken: ascii });
      await s.fence(multiByte, { fencingToken: ascii });
      await rejectsWithCode(s.fence(`${ascii}t`), "validation");
      await rejectsWithCode(s.fence(`${multiByte}t`), "validation");
      await rejectsWithCode(s.append([{ body: "x" }], { fencingToken: `${ascii}t` }), "validation");
      await s.append([{ body: "y" }], { fencingToken: multiByte });
    }));
});

describe("append: invalid input", () => {
  const bad: [string, unknown, unknown?][] = [
    ["records that are not an array", "hello"],
    ["a record that is not an object", [null]],
    ["a record without a body", [{ headers: [] }]],
    ["a body that is a number", [{ body: 42 }]],
    ["headers that are neither an array nor a plain object", [{ body: "x", headers: new Map([["a", "b"]]) }]],
    ["a header that is not a pair", [{ body: "x", headers: [["a"]] }]],
    ["a header with an empty name", [{ body: "x", headers: [["", "v"]] }]],
    ["a negative timestamp", [{ body: "x", timestamp: -1 }]],
    ["a fractional timestamp", [{ body: "x", timestamp: 1.5 }]],
    ["an unsafe integer timestamp", [{ body: "x", timestamp: 2 ** 53 }]],
    ["a command header with an unknown command", [{ body: "x", headers: [["", "explode"]] }]],
    ["a trim command with a body that is not 8 bytes", [{ body: "x", headers: [["", "trim"]] }]],
    ["an unknown option", [{ body: "x" }], { matchSeqNumber: 0 }],
    ["a negative matchSeqNum", [{ body: "x" }], { matchSeqNum: -1 }],
    ["a fractional matchSeqNum", [{ body: "x" }], { matchSeqNum: 0.5 }],
    ["a fencingToken that is not a string", [{ body: "x" }], { fencingToken: 1 }],
    ["a signal that is not an AbortSignal", [{ body: "x" }], { signal: {} }],
    ["options that are not an object", [{ body: "x" }], "fast"],
  ];
  for (const [what, records, options] of bad) {
    it(`refuses ${what} with validation (outcome not_applied), writing nothing`, () =>
      withStream(async (s) => {
        const error = await rejectsWithCode(s.append(records as never, options as never), "validation");
        assert.ok(error instanceof ValidationError);
        assert.equal(error.outcome, "not_applied");
        assert.equal(error.retryable, false);
        assert.equal((await s.checkTail()).seqNum, 0);
      }));
  }

  it("reports invalid input by rejecting the promise, never by throwing synchronously", () =>
    withStream(async (s) => {
      let promise: Promise<unknown> | undefined;
      assert.doesNotThrow(() => {
        promise = s.append("nope" as never);
      });
      await rejectsWithCode(promise!, "validation");
    }));

  it("fails an append whose signal already fired with aborted, writing nothing", () =>
    withStream(async (s) => {
      const controller = new AbortController();
      controller.abort(new Error("caller gave up"));
      const error = await rejectsWithCode(s.append([{ body: "x" }], { signal: controller.signal }), "aborted");
      assert.equal(error.outcome, "not_applied");
      assert.equal((await s.checkTail()).seqNum, 0);
      assert.equal((await s.append([{ body: "y" }])).start.seqNum, 0);
    }));
});
