/**
 * Issue 15.2: a writer Log keeps at most `maxLoadedStreams` streams loaded; idle ones beyond the
 * cap are evicted (least recently used first) and reopen transparently, and a stream with
 * appends in flight or a live follower is never evicted.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isDurastreamError } from "../../src/errors.js";
import { openLog } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { recordText } from "../../src/index.js";
import type { Stream } from "../../src/stream/stream.js";
import { GatedStore } from "../helpers/gated-store.js";

const isWalPut = (call: { kind: string; key: string }) => call.kind === "put" && call.key.startsWith("wal/");

async function readBodies(stream: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const record of stream.read({ from: { seqNum: 0 } })) out.push(recordText(record));
  return out;
}

async function openStreams(log: Awaited<ReturnType<typeof openLog>>, count: number): Promise<Stream[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => log.openStream(`s${i}`, { createIfMissing: true })));
}

test("idle streams beyond maxLoadedStreams are evicted and reopen transparently", async () => {
  const log = await openLog({ store: new MemoryStore(), flushIntervalMs: 0, maxLoadedStreams: 3 });
  try {
    const streams = await openStreams(log, 10);
    for (const stream of streams) await stream.append([{ body: `${stream.name} 0` }]);
    assert.ok(log.metrics().openStreams <= 3, `${log.metrics().openStreams} streams loaded`);
    assert.ok(log.metrics().streamEvictions >= 7);
    // Each evicted stream goes on where it stopped: seqNums continue, reads see everything.
    for (const stream of streams) assert.equal((await stream.append([{ body: `${stream.name} 1` }])).start.seqNum, 1);
    for (const stream of streams) assert.deepEqual(await readBodies(stream), [`${stream.name} 0`, `${stream.name} 1`]);
    assert.ok(log.metrics().openStreams <= 3);
  } finally {
    await log.close();
  }
});

test("the least recently used stream goes first", async () => {
  const log = await openLog({ store: new MemoryStore(), flushIntervalMs: 0, maxLoadedStreams: 2 });
  try {
    const [a, b, c] = await openStreams(log, 3);
    await a!.append([{ body: "a" }]);
    await b!.append([{ body: "b" }]);
    await a!.append([{ body: "a again" }]); // a is used after b
    await c!.append([{ body: "c" }]); // one of a and b must go: b
    const evictions = log.metrics().streamEvictions;
    assert.equal(evictions, 1);
    await a!.append([{ body: "a once more" }]);
    assert.equal(log.metrics().streamEvictions, evictions, "a was still loaded");
  } finally {
    await log.close();
  }
});

test("a stream with appends in flight or a live follower is never evicted", async () => {
  const gated = new GatedStore(new MemoryStore());
  const log = await openLog({ store: gated, flushIntervalMs: 0, maxLoadedStreams: 1 });
  const [busy, followed, other] = await openStreams(log, 3);
  await followed!.append([{ body: "before" }]);
  const walPut = gated.hold(isWalPut);
  try {
    const controller = new AbortController();
    const follower = followed!.read({ follow: true, signal: controller.signal })[Symbol.asyncIterator]();
    const next = follower.next();
    const inflight = busy!.append([{ body: "in flight" }]);
    await walPut.reached;
    const otherAck = other!.append([{ body: "other" }]); // loads a third streamer: the cap is passed
    for (let i = 0; i < 50 && log.metrics().openStreams < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(log.metrics().openStreams, 3, "the busy stream and the followed one stay loaded over the cap");
    assert.equal(log.metrics().streamEvictions, 0);
    await walPut.release();
    assert.equal((await inflight).start.seqNum, 0);
    assert.equal((await otherAck).start.seqNum, 0);
    await followed!.append([{ body: "live" }]);
    const delivered = await next;
    assert.equal(recordText(delivered.value!), "live");
    controller.abort();
    await follower.return?.();
  } finally {
    await walPut.release();
    await log.close();
  }
});

test("a read session that holds an evicted stream's view still follows it: the stream is revived, not loaded twice", async () => {
  const log = await openLog({ store: new MemoryStore(), flushIntervalMs: 0, maxLoadedStreams: 1 });
  try {
    const [a, b] = await openStreams(log, 2);
    await a!.append([{ body: "a0" }]);
    const controller = new AbortController();
    // The session takes a's view, catches up, and waits: a is idle until it subscribes.
    const session = a!.read({ from: { seqNum: 0 }, follow: true, signal: controller.signal })[Symbol.asyncIterator]();
    assert.equal(recordText((await session.next()).value!), "a0");
    await b!.append([{ body: "b0" }]);
    const waiting = session.next();
    await a!.append([{ body: "a1" }]);
    await b!.append([{ body: "b1" }]);
    assert.equal(recordText((await waiting).value!), "a1");
    assert.equal((await a!.append([{ body: "a2" }])).start.seqNum, 2);
    controller.abort();
    await session.return?.();
    assert.deepEqual(await readBodies(a!), ["a0", "a1", "a2"]);
  } finally {
    await log.close();
  }
});

test("maxLoadedStreams must be a positive integer", async () => {
  await assert.rejects(openLog({ store: new MemoryStore(), maxLoadedStreams: 0 }), (error: unknown) => isDurastreamError(error) && error.code === "validation");
});
