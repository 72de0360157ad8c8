/**
 * Issue 15.1: control operations (create, reconfigure, delete) are group-committed like appends:
 * many share one WAL flush, each is acknowledged once durable, operations on one name take
 * effect in call order, a stream whose creation is on its way takes appends, and a deleted
 * stream's records never come back, across a crash too.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isDurastreamError } from "../../src/errors.js";
import { openLog, type Log } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { recordText } from "../../src/index.js";
import type { Stream } from "../../src/stream/stream.js";
import { GatedStore } from "../helpers/gated-store.js";

const isWalPut = (call: { kind: string; key: string }) => call.kind === "put" && call.key.startsWith("wal/");
const hasCode = (code: string) => (error: unknown) => isDurastreamError(error) && error.code === code;

async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function readBodies(stream: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const record of stream.read({ from: { seqNum: 0 } })) out.push(recordText(record));
  return out;
}

test("64 creations in flight share WAL flushes (they used to take one durable write each)", async () => {
  const log = await openLog({ store: new MemoryStore(), flushIntervalMs: 0 });
  try {
    const before = log.metrics().engine.walFlushes;
    const infos = await Promise.all(Array.from({ length: 64 }, (_, i) => log.createStream(`s${i}`)));
    const flushes = log.metrics().engine.walFlushes - before;
    assert.ok(flushes <= 8, `64 creations took ${flushes} WAL flushes`);
    assert.equal(new Set(infos.map((info) => info.name)).size, 64);
    assert.equal((await log.listStreams()).length, 64);
    // Each got its own id: appends to each land in its own stream.
    const streams = await Promise.all(infos.map((info) => log.openStream(info.name)));
    await Promise.all(streams.map((stream) => stream.append([{ body: stream.name }])));
    for (const stream of streams) assert.deepEqual(await readBodies(stream), [stream.name]);
  } finally {
    await log.close();
  }
});

test("operations on one name take effect in call order, each acknowledged once durable", async () => {
  const gated = new GatedStore(new MemoryStore());
  const log = await openLog({ store: gated, flushIntervalMs: 0 });
  try {
    const first = await log.createStream("a", { retention: { ageSeconds: 3600 } });
    const firstId = (await log.openStream("a")).streamId;
    const walPut = gated.hold(isWalPut);
    const settled: string[] = [];
    const note = <T>(label: string, promise: Promise<T>) =>
      promise.then(
        (value) => {
          settled.push(`${label}:ok`);
          return value;
        },
        (error: unknown) => {
          settled.push(`${label}:${(error as { code?: string }).code}`);
          throw error;
        },
      );
    const reconfigured = note("reconfigure", log.reconfigureStream("a", { retention: { ageSeconds: 60 } }));
    const deleted = note("delete", log.deleteStream("a"));
    const again = note("createAgain", log.createStream("a"));
    const duplicate = note("duplicate", log.createStream("a"));
    await walPut.reached;
    await turns(50);
    assert.deepEqual(settled, [], "nothing is answered before its batch (or the state it was judged against) is durable");
    await walPut.release();
    await reconfigured;
    await deleted;
    const recreated = await again;
    await assert.rejects(duplicate, hasCode("stream_exists"));
    assert.deepEqual(settled, ["reconfigure:ok", "delete:ok", "createAgain:ok", "duplicate:stream_exists"]);
    // The name now holds a new, empty stream with the default config, not the reconfigured one.
    assert.notEqual((await log.openStream("a")).streamId, firstId);
    assert.deepEqual(first.config.retention, { ageSeconds: 3600 });
    assert.equal(recreated.config.retention, "infinite");
    const [listed] = await log.listStreams();
    assert.equal(listed?.createdAtMs, recreated.createdAtMs);
  } finally {
    await log.close();
  }
});

test("a stream whose creation is on its way takes appends, acknowledged after the creation", async () => {
  const gated = new GatedStore(new MemoryStore());
  const log = await openLog({ store: gated, flushIntervalMs: 0 });
  const walPut = gated.hold(isWalPut);
  try {
    const order: string[] = [];
    const created = log.createStream("new").then(() => order.push("created"));
    await walPut.reached;
    // The creation is written, not durable: the stream can be opened and appended to already.
    const stream = await log.openStream("new");
    const acked = stream.append([{ body: "first" }]).then((ack) => {
      order.push("appended");
      return ack;
    });
    await turns(20);
    assert.deepEqual(order, []);
    await walPut.release();
    const ack = await acked;
    await created;
    assert.equal(ack.start.seqNum, 0);
    assert.deepEqual(order.sort(), ["appended", "created"]);
    assert.deepEqual(await readBodies(stream), ["first"]);
  } finally {
    await walPut.release();
    await log.close();
  }
});

/** Opens a second writer on the same store, fencing the first as a crashed process would be replaced. */
async function crashAndReopen(store: GatedStore | MemoryStore): Promise<Log> {
  return openLog({ store, flushIntervalMs: 0, takeover: true });
}

test("a deleted stream's records never come back: not after a crash, not under a new stream of the same name", async () => {
  const store = new MemoryStore();
  const log = await openLog({ store, flushIntervalMs: 0 });
  const old = await log.openStream("gone", { createIfMissing: true });
  for (let i = 0; i < 5; i++) await old.append([{ body: `old ${i}` }]);
  await log.deleteStream("gone");
  // No close: the next writer takes over as after a SIGKILL (the WAL is replayed).
  const next = await crashAndReopen(store);
  try {
    assert.deepEqual(await next.listStreams(), []);
    await assert.rejects(next.openStream("gone"), hasCode("stream_not_found"));
    const fresh = await next.openStream("gone", { createIfMissing: true });
    assert.notEqual(fresh.streamId, old.streamId);
    assert.deepEqual(await fresh.checkTail(), { seqNum: 0, timestamp: 0 });
    const ack = await fresh.append([{ body: "new" }]);
    assert.equal(ack.start.seqNum, 0);
    assert.deepEqual(await readBodies(fresh), ["new"]);
    await assert.rejects(old.append([{ body: "late" }]));
  } finally {
    await next.close();
    await log.close().catch(() => undefined);
  }
});

test("a crash while a delete is on its way leaves the stream whole or gone, never in part", async () => {
  const gated = new GatedStore(new MemoryStore());
  const log = await openLog({ store: gated, flushIntervalMs: 0 });
  const stream = await log.openStream("half", { createIfMissing: true });
  for (let i = 0; i < 3; i++) await stream.append([{ body: `r${i}` }]);
  const walPut = gated.hold(isWalPut);
  const deleted = log.deleteStream("half").catch((error: unknown) => error);
  await walPut.reached;
  // The process dies with the delete's WAL object unwritten; the next writer takes over.
  const next = await crashAndReopen(gated);
  try {
    const survivor = await next.openStream("half");
    assert.deepEqual(await readBodies(survivor), ["r0", "r1", "r2"]);
    assert.equal((await survivor.append([{ body: "r3" }])).start.seqNum, 3);
  } finally {
    await walPut.release();
    await deleted;
    await next.close();
    await log.close().catch(() => undefined);
  }
});
