import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runStoreSuite } from "./conformance.js";
import { MemoryStore, handOverBytes } from "../../src/store/memory-store.js";
import { PreconditionFailedError } from "../../src/errors.js";
import type { ByteRange, ListOptions, ObjectStore, PutCondition } from "../../src/store/object-store.js";
import { Engine } from "../../src/engine/engine.js";
import { decodeWalObject } from "../../src/engine/wal-format.js";
import { parseId, WAL_PREFIX } from "../../src/engine/paths.js";

runStoreSuite("MemoryStore", async () => ({ store: new MemoryStore() }));

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");
/** A fresh array of its own ArrayBuffer holding `content`. */
const own = (content: string) => new Uint8Array(Buffer.from(content, "latin1"));

/** Passes every call to a MemoryStore and remembers the bodies put. */
class RecordingStore implements ObjectStore {
  readonly inner = new MemoryStore();
  readonly bodies: { key: string; body: Uint8Array }[] = [];
  get(key: string, range?: ByteRange) {
    return this.inner.get(key, range);
  }
  head(key: string) {
    return this.inner.head(key);
  }
  put(key: string, body: Uint8Array, condition?: PutCondition) {
    this.bodies.push({ key, body });
    return this.inner.put(key, body, condition);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  list(prefix: string, options?: ListOptions) {
    return this.inner.list(prefix, options);
  }
}

// Internal rule (store/memory-store.ts): an array handed over by the engine is kept, not copied.
// The writes to a handed-over array below break the promise on purpose, to see whether it was kept.
describe("MemoryStore: arrays handed over by the engine", () => {
  it("keeps a handed-over array instead of copying it", async () => {
    const store = new MemoryStore();
    const body = own("abcdef");
    await store.put("k", handOverBytes(body));
    body[0] = 0x7a; // only a broken promise can show that the store kept the array
    assert.equal(text(await store.get("k")), "zbcdef");
  });

  it("copies an array that was not handed over, and a second put of the same handed-over array", async () => {
    const store = new MemoryStore();
    const mine = own("abcdef");
    await store.put("plain", mine);
    const given = handOverBytes(own("ghijkl"));
    await store.put("first", given);
    await store.put("second", given); // the mark went with the first put
    mine.fill(0x30);
    given.fill(0x31);
    assert.equal(text(await store.get("plain")), "abcdef");
    assert.equal(text(await store.get("second")), "ghijkl");
    assert.equal(text(await store.get("first")), "111111");
  });

  it("hands out copies of a kept array, even of a Buffer (whose slice() is a view)", async () => {
    const store = new MemoryStore();
    await store.put("k", handOverBytes(Buffer.from(own("abcdef").buffer)));
    const whole = await store.get("k");
    whole.fill(0x30);
    const part = await store.get("k", { offset: 1, length: 2 });
    part.fill(0x30);
    assert.equal(text(await store.get("k")), "abcdef");
  });

  it("copies a handed-over view of a much larger buffer (it would keep the whole buffer alive)", async () => {
    const store = new MemoryStore();
    const buffer = own("abcdefghijklmnop");
    const view = handOverBytes(buffer.subarray(0, 4));
    await store.put("k", view);
    buffer.fill(0x30);
    assert.equal(text(await store.get("k")), "abcd");
  });

  it("leaves the mark on an array whose put failed its condition: the put that stores it keeps it", async () => {
    const store = new MemoryStore();
    await store.put("taken", own("x"));
    const body = handOverBytes(own("abc"));
    await assert.rejects(store.put("taken", body, { ifNoneMatch: "*" }), PreconditionFailedError);
    await store.put("free", body, { ifNoneMatch: "*" });
    body[0] = 0x7a;
    assert.equal(text(await store.get("free")), "zbc");
    assert.equal(text(await store.get("taken")), "x");
  });

  it("engine: every WAL object and SST is a fresh array of its own, and the stored objects stay intact", async () => {
    const store = new RecordingStore();
    const memory = store.inner;
    const engine = await Engine.open(store, { flushIntervalMs: 0, l0SstBytes: 64 * 1024 });
    const written = new Map<number, string>();
    for (let i = 0; i < 400; i++) {
      const seq = engine.write([{ type: "put", key: own(`key-${String(i).padStart(4, "0")}`), value: own(`value-${i}-`.padEnd(300, "v")) }]);
      written.set(seq, `value-${i}-`.padEnd(300, "v"));
      if (i % 7 === 0) await engine.whenDurable(seq);
    }
    await engine.flushMemtables();
    const kept = store.bodies.filter(({ key }) => key.startsWith(WAL_PREFIX) || key.startsWith("sst/")).map(({ body }) => body);
    assert.ok(kept.some((body) => body.length > 1000) && store.bodies.some(({ key }) => key.startsWith("sst/")), "WAL objects and an SST were put");
    assert.equal(new Set(kept.map((body) => body.buffer)).size, kept.length, "no two WAL objects or SSTs share an ArrayBuffer");
    let walObjects = 0;
    for await (const entry of memory.list(WAL_PREFIX)) {
      const walId = parseId(WAL_PREFIX, entry.key)!;
      const wal = decodeWalObject(entry.key, walId, await memory.get(entry.key));
      for (const batch of wal.batches) {
        for (const op of batch.ops) if (op.type === "put") assert.equal(text(op.value), written.get(batch.seq));
      }
      walObjects += wal.fence ? 0 : 1;
    }
    assert.ok(walObjects > 10, `${walObjects} WAL objects`);
    for (let i = 0; i < 400; i += 37) {
      const value = await engine.get(own(`key-${String(i).padStart(4, "0")}`));
      assert.equal(value === undefined ? undefined : text(value), `value-${i}-`.padEnd(300, "v"));
    }
    await engine.close();
  });
});
