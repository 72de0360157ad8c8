/**
 * The compaction worker's read buffers (compaction-worker.ts InputReadBuffers, InputStore,
 * mergeJob): reads land in a bounded set of buffers that are reused once the merge took a key
 * past everything they hold. A buffer reused too early would rewrite the bytes that rows, values
 * or blocks of a merge still being written are views of: the outputs of a merge through a tight
 * pool must equal those of a merge whose every read has a buffer of its own.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InputReadBuffers, mergeJob, type InputFetch, type WorkerJob } from "../../src/engine/compaction-worker.js";
import { BlockCache } from "../../src/engine/block-cache.js";
import type { Entry } from "../../src/engine/entry.js";
import type { SstHandle } from "../../src/engine/manifest-format.js";
import { sstKey } from "../../src/engine/paths.js";
import { SstBuilder } from "../../src/engine/sst-format.js";
import { SstReader } from "../../src/engine/sst-reader.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const key = (text: string) => new TextEncoder().encode(text);

describe("InputReadBuffers", () => {
  it("never makes more than maxBuffers; a failed read frees its slot", () => {
    const reads = new InputReadBuffers(1024, 3);
    const taken = [reads.take(), reads.take(), reads.take()];
    assert.ok(taken.every((buffer) => buffer?.byteLength === 1024));
    assert.equal(reads.take(), undefined, "all three are in use");
    assert.equal(reads.count, 3);
    reads.lost(reads.generation);
    assert.equal(reads.count, 2, "the failed read's buffer is not the pool's any more");
    assert.ok(reads.take() !== undefined, "its slot makes a new one");
    assert.equal(reads.take(), undefined);
    assert.equal(reads.count, 3);
  });

  it("frees a lent buffer only once the merge took a key above every key it holds", () => {
    const reads = new InputReadBuffers(64, 2);
    const a = reads.take()!;
    const b = reads.take()!;
    reads.lend(reads.generation, new Uint8Array(a, 0, 10), "sst/1", key("k05"));
    reads.lend(reads.generation, new Uint8Array(b, 0, 10), "sst/2", key("k09"));
    assert.equal(reads.take(), undefined);
    reads.taken(key("k01"));
    reads.taken(key("k05"));
    assert.equal(reads.take(), undefined, "k05 itself may still be read (another version, the next entry of the chunk)");
    reads.taken(key("k06"));
    assert.equal(reads.lentCount, 1);
    assert.equal(reads.take(), a, "the buffer of keys up to k05 is reused, not a new one");
    assert.equal(reads.take(), undefined, "the buffer of keys up to k09 is still lent");
    reads.taken(key("k10"));
    assert.equal(reads.take(), b);
    assert.equal(reads.count, 2);
  });

  it("frees the reads of an SST made while its reader opened (no last key) once it is open, and only those", () => {
    const reads = new InputReadBuffers(64, 2);
    const index1 = reads.take()!;
    const index2 = reads.take()!;
    reads.lend(reads.generation, new Uint8Array(index1, 0, 8), "sst/1", undefined);
    reads.lend(reads.generation, new Uint8Array(index2, 0, 8), "sst/2", undefined);
    reads.taken(key("zzz"));
    assert.equal(reads.take(), undefined, "a key taken says nothing about a read with no last key");
    reads.opened("sst/2");
    assert.equal(reads.take(), index2);
    assert.equal(reads.take(), undefined);
  });

  it("at the end of a job frees every lent buffer and gives up the reads under way: their late replies change nothing", () => {
    const reads = new InputReadBuffers(64, 3);
    const lent = reads.take()!;
    const late = reads.take()!;
    const failing = reads.take()!;
    const job = reads.generation;
    reads.lend(job, new Uint8Array(lent, 0, 8), "sst/1", key("k9"));
    reads.endJob();
    assert.equal(reads.count, 1, "the two reads under way are given up");
    assert.equal(reads.lentCount, 0);
    reads.lend(job, new Uint8Array(late, 0, 8), "sst/1", key("k1")); // the reply to a read of the ended job
    reads.lost(job); // and a failure of another
    assert.equal(reads.lentCount, 0);
    assert.equal(reads.count, 1);
    assert.equal(reads.take(), lent);
    assert.ok(reads.take() !== late && failing !== undefined);
    assert.ok(reads.take() !== undefined);
    assert.equal(reads.take(), undefined, "still at most three");
  });
});

const BLOCK_BYTES = 256;

/** Entries of `keys`, each with `versions` versions (seq descending), values that name key, seq and source. */
function entriesOf(source: number, keys: number[], versions: number, seqBase: number): Entry[] {
  const out: Entry[] = [];
  for (const k of keys) {
    for (let v = versions - 1; v >= 0; v--) {
      const seq = seqBase + k * 10 + v;
      out.push({ key: key(`key-${String(k).padStart(5, "0")}`), seq, value: key(`value of ${k} seq ${seq} from ${source} `.padEnd(40 + (k % 30), "v")), expireAtMs: 0 });
    }
  }
  return out;
}

async function putSst(store: LocalStore, id: number, entries: Entry[]): Promise<SstHandle> {
  const builder = new SstBuilder({ blockBytes: BLOCK_BYTES });
  for (const entry of entries) builder.add(entry);
  const { bytes, info } = builder.finish();
  await store.put(sstKey(id), bytes);
  return { id, info };
}

/** Every entry of the outputs, in order, as text (key, seq, value). */
async function outputRows(store: MemoryStore, outputs: SstHandle[]): Promise<string[]> {
  const rows: string[] = [];
  const cache = new BlockCache({ maxBytes: 0 });
  for (const handle of outputs) {
    const reader = await SstReader.open({ store, objectKey: sstKey(handle.id), info: handle.info, cache });
    for await (const entry of reader.entries()) {
      rows.push(`${Buffer.from(entry.key).toString()}@${entry.seq}=${entry.value === null ? "-" : Buffer.from(entry.value).toString()}`);
    }
  }
  return rows;
}

/** Runs `job` with `reads`, reading from `store` (into the pool's buffers where given one); returns the output rows and read counts. */
async function runMerge(store: LocalStore, job: WorkerJob, reads: InputReadBuffers): Promise<{ rows: string[]; pooledReads: number; plainReads: number; maxCount: number }> {
  const outputs = new MemoryStore();
  const handles: SstHandle[] = [];
  let pooledReads = 0;
  let plainReads = 0;
  let maxCount = 0;
  const fetch: InputFetch = async (objectKey, range, into) => {
    maxCount = Math.max(maxCount, reads.count);
    if (into === undefined || range?.length === undefined) {
      plainReads++;
      return store.get(objectKey, range);
    }
    pooledReads++;
    // Another turn of the event loop before the bytes arrive, as from the main thread.
    const bytes = await store.getInto(objectKey, { offset: range.offset, length: range.length }, into);
    await new Promise((resolve) => setImmediate(resolve));
    return bytes;
  };
  let nextId = 1000;
  const complete = await mergeJob(
    job,
    {
      fetch,
      put: async (bytes, info) => {
        const id = nextId++;
        await outputs.put(sstKey(id), bytes.slice());
        handles.push({ id, info });
        return { id, info };
      },
      buffers: { take: (minBytes) => new Uint8Array(minBytes), give: () => undefined, forget: () => undefined },
      stopped: () => false,
    },
    reads,
  );
  assert.ok(complete);
  return { rows: await outputRows(outputs, handles), pooledReads, plainReads, maxCount };
}

describe("mergeJob through InputReadBuffers", () => {
  it("a merge through a pool of three small buffers writes exactly what a merge with a buffer per read writes; the pool stays within its bound", async () => {
    const store = new LocalStore(await makeTempDir("worker-reads"));
    // Three sources, newest first: keys interleave and overlap, so a key's versions come from
    // several buffers, and every source's reads are released at different points.
    const newest = await putSst(store, 3, entriesOf(3, Array.from({ length: 120 }, (_, i) => i * 3), 1, 3_000_000));
    const middle = await putSst(store, 2, entriesOf(2, Array.from({ length: 150 }, (_, i) => i * 2), 2, 2_000_000));
    const run = [
      await putSst(store, 10, entriesOf(1, Array.from({ length: 100 }, (_, i) => i), 3, 1_000_000)),
      await putSst(store, 11, entriesOf(1, Array.from({ length: 100 }, (_, i) => 100 + i), 3, 1_000_000)),
      await putSst(store, 12, entriesOf(1, Array.from({ length: 200 }, (_, i) => 200 + i * 2), 1, 1_000_000)),
    ];
    const inputs = [[newest], [middle], run];
    const inputBytes = [newest, middle, ...run].reduce((sum, handle) => sum + handle.info.sizeBytes, 0);
    const readBytes = 4 * BLOCK_BYTES; // a few blocks per read
    const job: WorkerJob = { settings: { blockBytes: BLOCK_BYTES, maxSstBytes: 8192, inputBytes, nowMs: 0, bottomMost: false }, inputs, readBytes };

    const own = await runMerge(store, job, new InputReadBuffers(readBytes, 0));
    assert.equal(own.pooledReads, 0, "precondition: with no pool every read has a buffer of its own");
    const reads = new InputReadBuffers(readBytes, 3);
    const pooled = await runMerge(store, job, reads);

    assert.ok(own.rows.length > 400, `precondition: a merge of many rows (${own.rows.length})`);
    assert.deepEqual(pooled.rows, own.rows);
    assert.ok(pooled.pooledReads > 10 * 3, `each of the three buffers was reused many times (${pooled.pooledReads} pooled reads)`);
    assert.ok(pooled.plainReads > 0, "precondition: the pool ran out at times, and those reads got buffers of their own");
    assert.ok(pooled.maxCount <= 3 && reads.count <= 3, `never more than three buffers (${pooled.maxCount})`);
    assert.equal(reads.lentCount, 0, "the job's end freed every buffer");

    // The pool outlives the job: the next job reuses its buffers and writes the same.
    const again = await runMerge(store, job, reads);
    assert.deepEqual(again.rows, own.rows);
    assert.ok(reads.count <= 3);
  });
});
