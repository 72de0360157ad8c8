/**
 * The official S2 TypeScript SDK (@s2-dev/streamstore) against `startServer()`: basin and
 * stream CRUD with pagination, appends with every condition, reads from every kind of start
 * with limits and long-polls, fence and trim commands, and sessions (many appends in flight
 * with ordered acks, a read session following a live producer) over both of the SDK's
 * transports: `fetch` (unary JSON/protobuf and SSE) and `s2s` (h2c sessions).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AppendInput,
  AppendRecord,
  FencingTokenMismatchError,
  RangeNotSatisfiableError,
  S2Error,
  SeqNumMismatchError,
} from "@s2-dev/streamstore";
import { basinName, startSdkHarness, type SdkHarness, type Transport } from "./fixtures/sdk-server.js";

let h: SdkHarness;
before(async () => {
  h = await startSdkHarness();
});
after(async () => {
  await h.close();
});

async function rejectsWith(promise: Promise<unknown>, status: number, code?: string): Promise<S2Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof S2Error, `expected an S2Error, got ${String(error)}`);
    assert.equal(error.status, status, error.message);
    if (code !== undefined) assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a ${status} error`);
}

const text = (body: string, headers: [string, string][] = []) => AppendRecord.string({ body, headers });

describe("basins through the SDK", () => {
  it("creates, lists with prefix and pages, gets, reconfigures and deletes basins", async () => {
    const prefix = basinName("pg").slice(0, 12);
    const names = [`${prefix}-a1`, `${prefix}-b2`, `${prefix}-c3`];
    for (const name of names) await h.s2.basins.create({ basin: name });
    const first = await h.s2.basins.list({ prefix, limit: 2 });
    assert.deepEqual(first.basins.map((b) => b.name), names.slice(0, 2));
    assert.equal(first.hasMore, true);
    const second = await h.s2.basins.list({ prefix, startAfter: names[1], limit: 2 });
    assert.deepEqual(second.basins.map((b) => b.name), names.slice(2));
    assert.equal(second.hasMore, false);

    await h.s2.basins.reconfigure({ basin: names[0]!, createStreamOnAppend: true, defaultStreamConfig: { retentionPolicy: { ageSecs: 3600 } } });
    const config = await h.s2.basins.getConfig({ basin: names[0]! });
    assert.equal(config.createStreamOnAppend, true);
    assert.deepEqual(config.defaultStreamConfig?.retentionPolicy, { ageSecs: 3600 });

    await h.s2.basins.delete({ basin: names[2]! });
    const after = await h.s2.basins.list({ prefix });
    assert.deepEqual(after.basins.map((b) => b.name), names.slice(0, 2));
    await rejectsWith(h.s2.basins.getConfig({ basin: names[2]! }), 404, "basin_not_found");
  });

  it("answers 409 for a basin that exists and 422 for a bad basin name", async () => {
    const name = basinName("dup");
    await h.s2.basins.create({ basin: name });
    await rejectsWith(h.s2.basins.create({ basin: name }), 409, "resource_already_exists");
    await rejectsWith(h.s2.basins.create({ basin: "Bad_Name!!" }), 422, "invalid");
  });

  it("deleting a basin deletes its streams: a basin created again with the name is empty", async () => {
    const name = basinName("del");
    await h.s2.basins.create({ basin: name });
    const basin = h.s2.basin(name);
    await basin.streams.create({ stream: "a" });
    await basin.stream("a").append(AppendInput.create([text("x")]));
    await h.s2.basins.delete({ basin: name });
    await h.s2.basins.create({ basin: name });
    assert.deepEqual((await basin.streams.list()).streams, []);
    await rejectsWith(basin.stream("a").checkTail(), 404, "stream_not_found");
  });
});

describe("streams through the SDK", () => {
  let basinId: string;
  before(async () => {
    basinId = basinName("streams");
    await h.s2.basins.create({ basin: basinId });
  });

  it("creates, lists in pages, gets, reconfigures and deletes streams", async () => {
    const basin = h.s2.basin(basinId);
    for (const s of ["s-1", "s-2", "s-3", "t-1"]) await basin.streams.create({ stream: s });
    const page = await basin.streams.list({ prefix: "s-", limit: 2 });
    assert.deepEqual(page.streams.map((s) => s.name), ["s-1", "s-2"]);
    assert.equal(page.hasMore, true);
    const rest = await basin.streams.list({ prefix: "s-", startAfter: "s-2" });
    assert.deepEqual(rest.streams.map((s) => s.name), ["s-3"]);
    assert.equal(rest.hasMore, false);

    const config = await basin.streams.getConfig({ stream: "s-1" });
    assert.deepEqual(config.retentionPolicy, { ageSecs: 7 * 24 * 3600 });
    await basin.streams.reconfigure({ stream: "s-1", retentionPolicy: { infinite: {} }, timestamping: { mode: "arrival" } });
    const changed = await basin.streams.getConfig({ stream: "s-1" });
    assert.deepEqual(changed.retentionPolicy, { infinite: {} });
    assert.equal(changed.timestamping?.mode, "arrival");

    await basin.streams.delete({ stream: "s-2" });
    assert.deepEqual((await basin.streams.list({ prefix: "s-" })).streams.map((s) => s.name), ["s-1", "s-3"]);
    await rejectsWith(basin.streams.create({ stream: "s-1" }), 409, "resource_already_exists");
    await rejectsWith(basin.streams.getConfig({ stream: "nope" }), 404, "stream_not_found");
    await rejectsWith(h.s2.basin(basinName("missing")).streams.list(), 404, "basin_not_found");
  });

  it("creates a stream on append when the basin says so", async () => {
    const name = basinName("coa");
    await h.s2.basins.create({ basin: name, config: { createStreamOnAppend: true } });
    const ack = await h.s2.basin(name).stream("fresh").append(AppendInput.create([text("first")]));
    assert.equal(ack.start.seqNum, 0);
    await rejectsWith(h.s2.basin(basinId).stream("fresh").append(AppendInput.create([text("x")])), 404, "stream_not_found");
  });
});

for (const transport of ["fetch", "s2s"] as const satisfies readonly Transport[]) {
  describe(`records through the SDK over ${transport}`, () => {
    let basinId: string;
    let counter = 0;
    before(async () => {
      basinId = basinName(transport);
      await h.s2.basins.create({ basin: basinId });
    });
    async function fresh() {
      const name = `stream-${++counter}`;
      await h.s2.basin(basinId).streams.create({ stream: name });
      return h.s2.basin(basinId).stream(name, { forceTransport: transport });
    }

    it("appends with headers, bodies and client timestamps and reads them back as strings and bytes", async () => {
      const stream = await fresh();
      const ack = await stream.append(
        AppendInput.create([text("one", [["k", "v"]]), AppendRecord.bytes({ body: new Uint8Array([0, 255, 7]), timestamp: 1000 })]),
      );
      assert.equal(ack.start.seqNum, 0);
      assert.equal(ack.end.seqNum, 2);
      const batch = await stream.read({ start: { from: { seqNum: 0 } } });
      assert.equal(batch.records.length, 2);
      assert.equal(batch.records[0]!.body, "one");
      assert.deepEqual(batch.records[0]!.headers, [["k", "v"]]);
      const bytes = await stream.read({ start: { from: { seqNum: 1 } } }, { as: "bytes" });
      assert.deepEqual([...bytes.records[0]!.body], [0, 255, 7]);
      assert.ok(batch.tail !== undefined && batch.tail.seqNum === 2);
    });

    it("enforces matchSeqNum and fencing tokens, with the expected value in the error", async () => {
      const stream = await fresh();
      await stream.append(AppendInput.create([text("a")], { matchSeqNum: 0 }));
      const mismatch = await rejectsWith(stream.append(AppendInput.create([text("b")], { matchSeqNum: 5 })), 412);
      assert.ok(mismatch instanceof SeqNumMismatchError);
      assert.equal(mismatch.expectedSeqNum, 1);
      await stream.append(AppendInput.create([AppendRecord.fence("token-1")]));
      await stream.append(AppendInput.create([text("c")], { fencingToken: "token-1" }));
      const fenced = await rejectsWith(stream.append(AppendInput.create([text("d")], { fencingToken: "other" })), 412);
      assert.ok(fenced instanceof FencingTokenMismatchError);
      assert.equal(fenced.expectedFencingToken, "token-1");
      assert.equal((await stream.checkTail()).tail.seqNum, 3);
    });

    it("a trim command makes the records below it unreadable", async () => {
      const stream = await fresh();
      await stream.append(AppendInput.create([text("0"), text("1"), text("2"), text("3")]));
      await stream.append(AppendInput.create([AppendRecord.trim(2)]));
      const batch = await stream.read({ start: { from: { seqNum: 0 } } });
      assert.deepEqual(batch.records.map((r) => r.seqNum), [2, 3, 4]);
    });

    it("reads from a seqNum, a timestamp and a tail offset, within count, bytes and until", async () => {
      const stream = await fresh();
      const records = Array.from({ length: 10 }, (_, i) => AppendRecord.string({ body: `r${i}`, timestamp: 1_000 + i * 10 }));
      await stream.append(AppendInput.create(records));
      const seqs = async (input: Parameters<typeof stream.read>[0]) => (await stream.read(input)).records.map((r) => r.seqNum);
      assert.deepEqual(await seqs({ start: { from: { seqNum: 7 } } }), [7, 8, 9]);
      assert.deepEqual(await seqs({ start: { from: { timestamp: 1_055 } } }), [6, 7, 8, 9]);
      assert.deepEqual(await seqs({ start: { from: { tailOffset: 2 } } }), [8, 9]);
      assert.deepEqual(await seqs({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 3 } } }), [0, 1, 2]);
      assert.deepEqual(await seqs({ start: { from: { seqNum: 0 } }, stop: { limits: { bytes: 2 * 10 } } }), [0, 1]);
      assert.deepEqual(await seqs({ start: { from: { seqNum: 0 } }, stop: { untilTimestamp: 1_030 } }), [0, 1, 2]);
      await rejectsWith(stream.read({ start: { from: { seqNum: 50 }, clamp: true } }), 416);
      await rejectsWith(stream.read({ start: { from: { tailOffset: 0 } } }), 416);
      assert.deepEqual((await stream.read({ start: { from: { seqNum: 50 }, clamp: true }, stop: { waitSecs: 1 } })).records, []);
      const past = await rejectsWith(stream.read({ start: { from: { seqNum: 50 } } }), 416);
      assert.ok(past instanceof RangeNotSatisfiableError);
    });

    it("a unary read with wait returns the records appended while it waits (long-poll)", async () => {
      const stream = await fresh();
      const reading = stream.read({ start: { from: { seqNum: 0 } }, stop: { waitSecs: 10 } });
      let answered = false;
      void reading.then(() => (answered = true));
      // A read without wait answers at once with nothing; this one must still be waiting.
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(answered, false);
      await stream.append(AppendInput.create([text("late")]));
      const batch = await reading;
      assert.deepEqual(batch.records.map((r) => r.body), ["late"]);
    });

    it("a long-poll from a future timestamp skips records that arrive with earlier timestamps", async () => {
      const stream = await fresh();
      await stream.append(AppendInput.create([AppendRecord.string({ body: "old", timestamp: 1_000 })]));
      const reading = stream.read({ start: { from: { timestamp: 5_000 }, clamp: true }, stop: { waitSecs: 10 } });
      await new Promise((resolve) => setTimeout(resolve, 100));
      await stream.append(AppendInput.create([AppendRecord.string({ body: "early", timestamp: 2_000 }), AppendRecord.string({ body: "late", timestamp: 6_000 })]));
      assert.deepEqual((await reading).records.map((r) => r.body), ["late"]);
    });

    it("an append session with many appends in flight acknowledges them in order", async () => {
      const stream = await fresh();
      const session = await stream.appendSession();
      const tickets = [];
      for (let i = 0; i < 50; i++) tickets.push(await session.submit(AppendInput.create([text(`a${i}`), text(`b${i}`)])));
      const acks = await Promise.all(tickets.map((t) => t.ack()));
      acks.forEach((ack, i) => {
        assert.equal(ack.start.seqNum, 2 * i);
        assert.equal(ack.end.seqNum, 2 * i + 2);
      });
      await session.close();
      assert.equal((await stream.checkTail()).tail.seqNum, 100);
    });

    it("an append session fails with the condition's error and writes nothing after it", async () => {
      const stream = await fresh();
      const session = await stream.appendSession();
      const ok = await session.submit(AppendInput.create([text("a")], { matchSeqNum: 0 }));
      assert.equal((await ok.ack()).end.seqNum, 1);
      const bad = await session.submit(AppendInput.create([text("b")], { matchSeqNum: 7 }));
      await assert.rejects(bad.ack(), (error: unknown) => error instanceof SeqNumMismatchError && error.expectedSeqNum === 1);
      await session.close().catch(() => undefined);
      assert.equal((await stream.checkTail()).tail.seqNum, 1);
    });

    it("read sessions start at a timestamp or a tail offset and stop at a count or an until", async () => {
      const stream = await fresh();
      await stream.append(AppendInput.create(Array.from({ length: 8 }, (_, i) => AppendRecord.string({ body: `r${i}`, timestamp: 5_000 + i * 10 }))));
      const collect = async (input: Parameters<typeof stream.readSession>[0]) => {
        const out: number[] = [];
        for await (const record of await stream.readSession(input)) out.push(record.seqNum);
        return out;
      };
      assert.deepEqual(await collect({ start: { from: { timestamp: 5_035 } }, stop: { limits: { count: 2 } } }), [4, 5]);
      assert.deepEqual(await collect({ start: { from: { tailOffset: 3 } }, stop: { limits: { count: 10 } } }), [5, 6, 7]);
      assert.deepEqual(await collect({ start: { from: { seqNum: 1 } }, stop: { untilTimestamp: 5_030 } }), [1, 2]);
    });

    it("a read session follows a live producer without a gap", async () => {
      const stream = await fresh();
      await stream.append(AppendInput.create([text("before")]));
      const session = await stream.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 41 }, waitSecs: 30 } });
      const producing = (async () => {
        for (let i = 0; i < 20; i++) await stream.append(AppendInput.create([text(`p${i}a`), text(`p${i}b`)]));
      })();
      const seen: number[] = [];
      for await (const record of session) seen.push(record.seqNum);
      await producing;
      assert.deepEqual(seen, Array.from({ length: 41 }, (_, i) => i));
    });
  });
}
