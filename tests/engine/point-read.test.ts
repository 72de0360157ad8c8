/**
 * Point reads: SstReader.getCached (the cache-only probe) and Version.getNewest (its fast path
 * through getCached, its scanning slow path, and the skipping of SSTs that hold nothing newer),
 * against a model of the versions, with small blocks so that a key's versions straddle blocks.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BlockCache } from "../../src/engine/block-cache.js";
import type { Entry } from "../../src/engine/entry.js";
import type { SstHandle } from "../../src/engine/manifest-format.js";
import { sstKey } from "../../src/engine/paths.js";
import { SstBuilder, type SstInfo } from "../../src/engine/sst-format.js";
import { SstReader } from "../../src/engine/sst-reader.js";
import { Version } from "../../src/engine/version.js";
import { MemoryStore } from "../../src/store/memory-store.js";

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (v: Uint8Array | null | undefined): string | null | undefined => (v === null || v === undefined ? v : new TextDecoder().decode(v));

/** Deterministic pseudo-random numbers (a fixed LCG): the same cases every run. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Entries in SST order (key ascending, seq descending): `versions(i)` versions of key i, seqs from `nextSeq`. */
function entriesOf(keys: number, versions: (i: number) => number, firstSeq: number): Entry[] {
  const out: Entry[] = [];
  let seq = firstSeq;
  for (let i = 0; i < keys; i++) {
    const n = versions(i);
    const group: Entry[] = [];
    for (let v = 0; v < n; v++) {
      seq++;
      group.push({ key: b(`key-${String(i).padStart(4, "0")}`), seq, value: v === n - 1 && i % 7 === 3 ? null : b(`v${seq}`), expireAtMs: 0 });
    }
    out.push(...group.reverse());
  }
  return out;
}

async function putSst(store: MemoryStore, id: number, entries: Entry[], blockBytes: number): Promise<SstHandle> {
  const builder = new SstBuilder({ blockBytes });
  for (const entry of entries) builder.add(entry);
  const { bytes, info } = builder.finish();
  await store.put(sstKey(id), bytes);
  return { id, info };
}

/** The model: the newest version of `key` with seq <= snapshot among `entries`, or null. */
function modelNewest(entries: Entry[], key: string, snapshot: number): Entry | null {
  let best: Entry | null = null;
  for (const entry of entries) {
    if (text(entry.key) === key && entry.seq <= snapshot && (best === null || entry.seq > best.seq)) best = entry;
  }
  return best;
}

describe("SstReader.getCached", () => {
  it("answers from cached blocks exactly as the model, and says so when it cannot tell", async () => {
    const store = new MemoryStore();
    const random = lcg(15);
    const entries = entriesOf(200, () => 1 + Math.floor(random() * 12), 0);
    const handle = await putSst(store, 1, entries, 256);
    const cache = new BlockCache({ maxBytes: 64 * 1024 * 1024 });
    const reader = await SstReader.open({ store, objectKey: sstKey(1), info: handle.info, cache });
    assert.ok(reader.blockCount > 20, `${reader.blockCount} blocks: versions must straddle blocks`);
    assert.equal(reader.getCached(b("key-0100"), Number.MAX_SAFE_INTEGER), undefined, "nothing is cached yet");
    for await (const chunk of reader.scanChunks()) void chunk; // fills the cache
    const maxSeq = entries.length;
    let answered = 0;
    let undecided = 0;
    for (let probe = 0; probe < 3000; probe++) {
      const key = `key-${String(Math.floor(random() * 205)).padStart(4, "0")}${probe % 11 === 0 ? "x" : ""}`;
      const snapshot = Math.floor(random() * (maxSeq + 5));
      const got = reader.getCached(b(key), snapshot);
      const want = modelNewest(entries, key, snapshot);
      if (got === undefined) {
        undecided++;
        continue;
      }
      answered++;
      assert.deepEqual(got === null ? null : { key: text(got.key), seq: got.seq, value: text(got.value) }, want === null ? null : { key: text(want.key), seq: want.seq, value: text(want.value) }, `${key} at ${snapshot}`);
    }
    // Undecided only where all the versions of a key in its first block are above the snapshot
    // (with 256-byte blocks and up to 12 versions a key, about one probe in five).
    assert.ok(answered > 2000 && undecided > 0, `answered ${answered}, undecided ${undecided}`);
  });
});

describe("SST seek (restart keys compared in place)", () => {
  it("finds every key where keys are prefixes of one another, and none between them", async () => {
    // "p", "px", "pxx", ... each a prefix of the next, and each followed by itself + "a": the
    // restart points' keys are prefixes of the sought keys and the other way round.
    const keys: string[] = [];
    for (let i = 0; i < 150; i++) keys.push(`p${"x".repeat(i)}`, `p${"x".repeat(i)}a`);
    keys.sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const entries: Entry[] = keys.map((key, i) => ({ key: b(key), seq: i + 1, value: b(key), expireAtMs: 0 }));
    const store = new MemoryStore();
    const handle = await putSst(store, 1, entries, 4096);
    const reader = await SstReader.open({ store, objectKey: sstKey(1), info: handle.info, cache: new BlockCache({ maxBytes: 64 * 1024 * 1024 }) });
    for await (const chunk of reader.scanChunks()) void chunk; // fills the cache
    for (const key of keys) {
      assert.equal(text(reader.getCached(b(key), Number.MAX_SAFE_INTEGER)?.value), key, key);
      assert.equal(reader.getCached(b(`${key}0`), Number.MAX_SAFE_INTEGER), null, `${key}0`);
      const [first] = (await reader.scanChunks({ start: b(key) })[Symbol.asyncIterator]().next()).value as Entry[];
      assert.equal(text(first?.key), key, `a scan from ${key}`);
    }
  });
});

describe("Version.getNewest", () => {
  /** Three L0s (newest first) over one key space with overlapping keys, and a run below them. */
  async function layered(cacheBytes: number): Promise<{ version: Version; all: Entry[]; store: MemoryStore }> {
    const store = new MemoryStore();
    const random = lcg(7);
    const run = entriesOf(300, () => 1 + Math.floor(random() * 3), 0);
    const older = entriesOf(300, (i) => (i % 3 === 0 ? 2 : 0), run.length);
    const middle = entriesOf(300, (i) => (i % 5 === 1 ? 20 : 0), run.length + older.length);
    const newest = entriesOf(300, (i) => (i % 4 === 2 ? 1 : 0), run.length + older.length + middle.length);
    const runHandles = [await putSst(store, 1, run.slice(0, 300), 256), await putSst(store, 2, run.slice(300), 256)];
    const l0 = [await putSst(store, 5, newest, 256), await putSst(store, 4, middle, 256), await putSst(store, 3, older, 256)];
    const version = new Version(store, new BlockCache({ maxBytes: cacheBytes }), { memtables: [], l0, runs: [{ id: 1, ssts: runHandles }] });
    return { version, all: [...run, ...older, ...middle, ...newest], store };
  }

  for (const [what, cacheBytes] of [
    ["with every block cached after its first read (the getCached path)", 64 * 1024 * 1024],
    ["with no block cache (every probe scans)", 0],
  ] as const) {
    it(`returns the model's newest version ${what}`, async () => {
      const { version, all } = await layered(cacheBytes);
      const maxSeq = all.length;
      const random = lcg(99);
      for (let round = 0; round < 2; round++) {
        for (let probe = 0; probe < 1500; probe++) {
          const key = `key-${String(Math.floor(random() * 305)).padStart(4, "0")}`;
          const snapshot = probe % 3 === 0 ? maxSeq : Math.floor(random() * (maxSeq + 1));
          const got = await version.getNewest(b(key), snapshot);
          const want = modelNewest(all, key, snapshot);
          assert.deepEqual(got === undefined ? null : { seq: got.seq, value: text(got.value) }, want === null ? null : { seq: want.seq, value: text(want.value) }, `${key} at ${snapshot}, round ${round}`);
        }
      }
    });
  }

  it("returns a copy of the value, not a view of the cached block", async () => {
    const { version } = await layered(64 * 1024 * 1024);
    const first = await version.getNewest(b("key-0001"), Number.MAX_SAFE_INTEGER);
    assert.ok(first?.value);
    const before = text(first.value);
    first.value.fill(0);
    const again = await version.getNewest(b("key-0001"), Number.MAX_SAFE_INTEGER);
    assert.equal(text(again?.value), before);
  });

  it("does not read an SST whose seqs are all below the version already found", async () => {
    const store = new MemoryStore();
    const newer = entriesOf(50, () => 1, 1000);
    const older = entriesOf(50, () => 1, 0);
    const newest = await putSst(store, 2, newer, 256);
    const oldest = await putSst(store, 1, older, 256);
    let gets = 0;
    const counting = Object.assign(Object.create(store) as MemoryStore, {
      get: (key: string, range?: { offset: number; length?: number }) => {
        if (key === sstKey(1) && range?.offset !== (oldest.info as SstInfo).indexOffset) gets++;
        return store.get(key, range);
      },
    });
    const version = new Version(counting, new BlockCache({ maxBytes: 0 }), { memtables: [], l0: [newest, oldest], runs: [] });
    const got = await version.getNewest(b("key-0010"), Number.MAX_SAFE_INTEGER);
    assert.equal(got?.seq, 1011);
    assert.equal(gets, 0, "the older SST's data blocks were read");
  });
});
