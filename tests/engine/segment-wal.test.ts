/**
 * Segment WAL: the frame format (golden bytes), reading a segment (torn ends, recycled files),
 * the engine on the segment WAL (real disk and simulated disk), GC recycling, the seal.
 */
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { Engine, SEGMENT_WAL_DIR, type EngineOptions, type WriteOp } from "../../src/engine/engine.js";
import { decodeSegment, encodeFrame, FrameGather, GatherChunks, generationOf, segmentName, sealName } from "../../src/engine/segment-format.js";
import { encodeBatch, WAL_FENCE_BYTES } from "../../src/engine/wal-format.js";
import { NodeWalDirectory, piecesAfter, StallingWalDirectory, type WalFile } from "../../src/engine/wal-files.js";
import { WAL_FRAME_GATHER_MIN_VALUE_BYTES, WAL_INLINE_DATASYNC_BACKOFF_MS, WAL_INLINE_DATASYNC_STALL_MS } from "../../src/limits.js";
import { systemClock, type Clock } from "../../src/util/clock.js";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import { inspectStore } from "../../src/inspect.js";
import { openLog } from "../../src/index.js";
import { makeTempDir } from "../helpers/temp-dir.js";
import { SimulatedDisk } from "../helpers/simulated-disk.js";

const b = (text: string) => Buffer.from(text);
const put = (key: string, value: string): WriteOp => ({ type: "put", key: b(key), value: b(value) });
const small: EngineOptions = { walMode: "segments", walSegmentBytes: 64 * 1024, l0SstBytes: 4096, sstBlockBytes: 512, gcIntervalMs: 0, gcGraceMs: 0 };

async function collect(engine: Engine): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of engine.scan({})) out.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString());
  return out;
}

const GOLDEN = path.join(import.meta.dirname, "golden", "segment-frame-v1.bin");

describe("segment frame format", () => {
  const frame = () =>
    encodeFrame({ generation: generationOf(3, 2), writerEpoch: 3, walId: 17, firstSeq: 41 }, [
      encodeBatch(41, [put("k1", "v1")]),
      encodeBatch(42, [{ type: "delete", key: b("k2") }]),
    ]);

  it("encodes to the golden bytes (a format change must be deliberate)", async () => {
    if (process.env.DURASTREAM_WRITE_GOLDEN === "1") await writeFile(GOLDEN, frame());
    assert.deepEqual(Buffer.from(frame()), await readFile(GOLDEN));
  });

  it("decodes what it encodes, and stops at a torn frame at every byte of the last frame", () => {
    const generation = generationOf(3, 2);
    const first = encodeFrame({ generation, writerEpoch: 3, walId: 1, firstSeq: 1 }, [encodeBatch(1, [put("a", "x".repeat(700))])]);
    const second = encodeFrame({ generation, writerEpoch: 3, walId: 2, firstSeq: 2 }, [encodeBatch(2, [put("b", "y".repeat(900))])]);
    const whole = Buffer.concat([first, second, Buffer.alloc(4096)]);
    assert.deepEqual(decodeSegment(whole, generation, "s").map((f) => f.walId), [1, 2]);
    for (let cut = 0; cut < second.length; cut++) {
      const torn = Buffer.concat([first, second.subarray(0, cut), Buffer.alloc(4096)]);
      assert.deepEqual(decodeSegment(torn, generation, "s").map((f) => f.walId), [1], `cut at ${cut}`);
      const truncated = Buffer.concat([first, second.subarray(0, cut)]);
      assert.deepEqual(decodeSegment(truncated, generation, "s").map((f) => f.walId), [1], `truncated at ${cut}`);
    }
  });

  it("gathers the same bytes as encodeFrame makes, values of WAL_FRAME_GATHER_MIN_VALUE_BYTES and more not copied, in chunks that are reused", () => {
    const header = { generation: generationOf(3, 2), writerEpoch: 3, walId: 17, firstSeq: 41 };
    const long = b("z".repeat(WAL_FRAME_GATHER_MIN_VALUE_BYTES));
    const huge = Buffer.alloc(300 * 1024, 7); // the checksum is hashed in pieces of 256 KiB
    const bigKey = Buffer.alloc(70 * 1024, 3); // more than a chunk: a chunk of its own
    const short = b("z".repeat(WAL_FRAME_GATHER_MIN_VALUE_BYTES - 1));
    const batches: WriteOp[][] = [
      [put("k1", "v1")],
      [{ type: "delete", key: b("k2") }],
      [{ type: "put", key: b("k3"), value: long, expireAtMs: 1_800_000_000_000 }, { type: "put", key: b("k4"), value: short }],
      [{ type: "put", key: bigKey, value: b("v") }],
      [{ type: "put", key: b("k5"), value: huge }],
      // Many small batches: their fields fill several chunks.
      ...Array.from({ length: 3000 }, (_, i): WriteOp[] => [put(`many-${i}`, "x".repeat(i % 300))]),
    ];
    const chunks = new GatherChunks();
    const gather = new FrameGather(chunks);
    const sizes = batches.map((ops, i) => gather.add(41 + i, ops));
    const encoded = batches.map((ops, i) => encodeBatch(41 + i, ops));
    assert.deepEqual(sizes, encoded.map((batch) => batch.length), "each batch's size is its encoding's");
    assert.equal(gather.batchCount, batches.length);
    assert.equal(gather.batchBytes, sizes.reduce((sum, size) => sum + size, 0));
    const pieces = gather.finish(header);
    assert.deepEqual(Buffer.concat(pieces), Buffer.from(encodeFrame(header, encoded)));
    assert.ok(pieces.includes(long) && pieces.includes(huge), "the long values are pieces of the frame, not copies");
    assert.ok(!pieces.includes(short), "a shorter value is copied");
    assert.throws(() => gather.add(99, [put("late", "x")]), /after finish/);
    assert.deepEqual(decodeSegment(Buffer.concat([...pieces, Buffer.alloc(64)]), header.generation, "s").map((f) => f.walId), [17]);

    // Released chunks go to the next frame: its first piece is in one of them.
    const used = new Set(pieces.map((piece) => piece.buffer));
    gather.release();
    const next = new FrameGather(chunks);
    next.add(100, [put("k", "v")]);
    const nextPieces = next.finish({ ...header, walId: 18, firstSeq: 100 });
    assert.ok(used.has(nextPieces[0]!.buffer), "the next frame is gathered into a chunk given back");
    assert.deepEqual(Buffer.concat(nextPieces), Buffer.from(encodeFrame({ ...header, walId: 18, firstSeq: 100 }, [encodeBatch(100, [put("k", "v")])])));
  });

  it("piecesAfter: what is left of a vectored write after a short one", () => {
    const pieces = [b("abc"), b("de"), b("fghi")];
    for (let skip = 0; skip <= 9; skip++) {
      assert.equal(Buffer.concat(piecesAfter(pieces, skip)).toString(), "abcdefghi".slice(skip), `after ${skip} bytes`);
    }
  });

  it("never reads a frame of an earlier generation of a recycled file as current", () => {
    const old = generationOf(3, 0);
    const current = generationOf(3, 5);
    const stale = encodeFrame({ generation: old, writerEpoch: 3, walId: 9, firstSeq: 20 }, [encodeBatch(20, [put("old", "o")])]);
    const fresh = encodeFrame({ generation: current, writerEpoch: 3, walId: 30, firstSeq: 50 }, [encodeBatch(50, [put("new", "n")])]);
    // The new frame overwrote the start of the file; the old frames after it still checksum.
    const bytes = Buffer.concat([fresh, stale, stale]);
    assert.deepEqual(decodeSegment(bytes, current, "s").map((f) => f.walId), [30]);
    assert.deepEqual(decodeSegment(Buffer.concat([stale, stale]), current, "s"), []);
  });
});

describe("engine on the segment WAL", () => {
  it("acks, survives reopen, and writes no WAL object but the fence", async () => {
    const dir = await makeTempDir("segwal");
    const store = new LocalStore(dir);
    const engine = await Engine.open(store, small);
    let last = 0;
    for (let i = 0; i < 200; i++) last = engine.write([put(`k${String(i).padStart(4, "0")}`, `v${i}`)]);
    await engine.whenDurable(last);
    await engine.close();
    const walObjects = [];
    for await (const entry of store.list("wal/")) walObjects.push(entry);
    assert.ok(walObjects.every((entry) => entry.size === WAL_FENCE_BYTES), "only fences as WAL objects");
    const names = await readdir(path.join(dir, SEGMENT_WAL_DIR));
    assert.ok(names.some((name) => name.startsWith("seg-")));
    const reopened = await Engine.open(store, small);
    const data = await collect(reopened);
    assert.equal(data.size, 200);
    assert.equal(data.get("k0199"), "v199");
    await reopened.close();
    // And the object WAL reads what the segment WAL wrote, and the other way round.
    const asObjects = await Engine.open(store, { ...small, walMode: "objects" });
    asObjects.write([put("zz", "objects")]);
    await asObjects.flush();
    await asObjects.close();
    const again = await Engine.open(store, small);
    const all = await collect(again);
    assert.equal(all.size, 201);
    assert.equal(all.get("zz"), "objects");
    await again.close();
  });

  it("refuses segments on a store that is not local", async () => {
    await assert.rejects(Engine.open(new MemoryStore(), { walMode: "segments" }), { code: "validation" });
  });

  it("recycles its own segments once an L0 covers them, and removes older epochs' segments", async () => {
    const disk = new SimulatedDisk();
    const store = new MemoryStore();
    const options: EngineOptions = { ...small, walSegmentBytes: 64 * 1024, walDirectory: disk.directory() };
    const first = await Engine.open(store, options);
    const value = "x".repeat(3000);
    for (let i = 0; i < 200; i++) await first.whenDurable(first.write([put(`a${i}`, value)]));
    await first.close();
    const second = await Engine.open(store, { ...options, walDirectory: disk.directory() });
    for (let i = 0; i < 200; i++) await second.whenDurable(second.write([put(`b${i}`, value)]));
    await second.flushMemtables();
    await second.gc.runOnce();
    await second.gc.runOnce();
    const segments = (await disk.directory().list()).filter((name) => name.startsWith("seg-"));
    const epochs = new Set(segments.map((name) => Math.floor(Number(name.slice(4)) / 2 ** 20)));
    assert.equal(epochs.size, 1, `segments of one epoch left: ${segments.join(", ")}`);
    // 600 KB were written in 64 KiB segments: at most a handful remain (active, ready, recyclable).
    assert.ok(segments.length <= 5, `${segments.length} segments`);
    // The first epoch closed cleanly (its last manifest says so): it acks nothing more and needs no seal.
    assert.ok(!(await disk.directory().list()).includes(sealName(1)), "the cleanly closed first epoch was sealed");
    const data = await collect(second);
    assert.equal(data.size, 400);
    await second.close();
    const third = await Engine.open(store, { ...options, walDirectory: disk.directory() });
    assert.equal((await collect(third)).size, 400);
    await third.close();
  });
});

/** A simulated disk's WAL directory that counts the spares the writer creates (each one is zero-filled before use). */
function sparesCounted(): { walDirectory: StallingWalDirectory; spares: string[] } {
  const spares: string[] = [];
  class CountingDirectory extends StallingWalDirectory {
    override createFile(name: string) {
      if (name.startsWith("spare-")) spares.push(name);
      return super.createFile(name);
    }
  }
  return { walDirectory: new CountingDirectory(new SimulatedDisk().directory(), async () => undefined), spares };
}

describe("segments are reused", () => {
  it("keeps full-size segments for reuse: past the first small ones, a busy writer zero-fills none", async () => {
    const { walDirectory, spares } = sparesCounted();
    // Segments start at 1 MiB and grow to 2 MiB; an L0 covers a quarter of one.
    const options: EngineOptions = { ...small, walSegmentBytes: 2 * 1024 * 1024, l0SstBytes: 512 * 1024, sstBlockBytes: 16 * 1024, walDirectory };
    const engine = await Engine.open(new MemoryStore(), options);
    const value = "v".repeat(3000);
    const writeMiB = async (mib: number, tag: string) => {
      for (let i = 0; i < (mib * 1024 * 1024) / 30_000; i++) {
        await engine.whenDurable(engine.write(Array.from({ length: 10 }, (_, j) => put(`${tag}${i}-${j}`, value))));
        if (i % 20 === 0) await engine.gc.runOnce();
      }
    };
    await writeMiB(6, "a");
    const warmedUp = spares.length;
    await writeMiB(12, "b"); // six more full segments' worth
    assert.ok(spares.length - warmedUp <= 1, `${spares.length - warmedUp} segments zero-filled after warm-up (${spares.join(", ")})`);
    const segments = (await walDirectory.list()).filter((name) => name.startsWith("seg-"));
    assert.ok(segments.length <= 2 + Math.ceil((512 * 1024) / (2 * 1024 * 1024)) + 2, `${segments.length} segment files`);
    await engine.close();
  });

  it("reuses the segments an L0 covers once the L0 is published, without waiting for a GC pass", async () => {
    const { walDirectory, spares } = sparesCounted();
    // No GC pass runs in this test (an hour between passes, none run by hand).
    const options: EngineOptions = { ...small, walSegmentBytes: 2 * 1024 * 1024, l0SstBytes: 512 * 1024, sstBlockBytes: 16 * 1024, gcIntervalMs: 3_600_000, walDirectory };
    const engine = await Engine.open(new MemoryStore(), options);
    const value = "v".repeat(3000);
    const writeMiB = async (mib: number, tag: string) => {
      for (let i = 0; i < (mib * 1024 * 1024) / 30_000; i++) {
        await engine.whenDurable(engine.write(Array.from({ length: 10 }, (_, j) => put(`${tag}${i}-${j}`, value))));
        if (i % 20 === 0) await engine.flushMemtables(); // each L0 published before the next segment is needed
      }
    };
    try {
      await writeMiB(6, "a");
      const warmedUp = spares.length;
      await writeMiB(12, "b");
      assert.ok(spares.length - warmedUp <= 1, `${spares.length - warmedUp} segments zero-filled after warm-up (${spares.join(", ")})`);
    } finally {
      await engine.close();
    }
  });
});

describe("frame buffers are reused", () => {
  it("only once the frame in them was written: batches that arrive during a write never change it", async () => {
    const disk = new SimulatedDisk();
    const store = new MemoryStore();
    let armed = false;
    let reached!: () => void;
    let release!: () => void;
    const reachedWrite = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const walDirectory = new StallingWalDirectory(disk.directory(), async (point, name) => {
      // (A segment's file is opened as a spare and renamed into use: the name is the one it was opened under.)
      if (!armed || point !== "before-write" || !(name.startsWith("seg-") || name.startsWith("spare-"))) return;
      armed = false;
      reached();
      await released;
    });
    // Segments big enough that no spare is zero-filled (another write) while the test runs.
    const options: EngineOptions = { ...small, walSegmentBytes: 1024 * 1024, l0SstBytes: 1024 * 1024, walDirectory };
    const engine = await Engine.open(store, options);
    const value = (tag: string, i: number) => `${tag}${i}:`.padEnd(1000, tag);
    // Frames written and done: the writer now holds a spare buffer.
    for (let i = 0; i < 20; i++) await engine.whenDurable(engine.write([put(`a${i}`, value("a", i))]));
    armed = true;
    const stalled = engine.write([put("b0", value("b", 0))]);
    await reachedWrite;
    // The frame of b0 waits before its write; these are encoded meanwhile, in the same sizes.
    const during: number[] = [];
    for (let i = 0; i < 5; i++) during.push(engine.write([put(`c${i}`, value("c", i))]));
    release();
    await engine.whenDurable(stalled);
    await engine.whenDurable(during.at(-1)!);
    // No clean close (it would write the memtable, not the WAL, to an L0): the next writer replays the frames.
    const reopened = await Engine.open(store, { ...options, walDirectory: disk.directory() });
    const data = await collect(reopened);
    assert.equal(data.get("b0"), value("b", 0), "the frame written after its stall holds what was acknowledged");
    for (let i = 0; i < 20; i++) assert.equal(data.get(`a${i}`), value("a", i));
    for (let i = 0; i < 5; i++) assert.equal(data.get(`c${i}`), value("c", i));
    await reopened.close();
    await engine.close().catch(() => undefined); // fenced by the second writer
  });
});

describe("read-only engines follow the segment WAL", () => {
  it("see an acknowledged frame within milliseconds (fs.watch, no poll), and never one not yet acknowledged", async () => {
    const dir = await makeTempDir("segwal-follow");
    let stallSealCheck = false;
    let release: () => void = () => {};
    let reached: () => void = () => {};
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const walDirectory = new StallingWalDirectory(new NodeWalDirectory(path.join(dir, SEGMENT_WAL_DIR)), async (point) => {
      if (point !== "before-seal-check" || !stallSealCheck) return;
      stallSealCheck = false;
      reached();
      await new Promise<void>((resolve) => (release = resolve));
    });
    const writer = await Engine.open(new LocalStore(dir), { ...small, walDirectory });
    await writer.whenDurable(writer.write([put("a", "1")]));
    const reader = await Engine.open(new LocalStore(dir), { readOnly: true, pollIntervalMs: 3_600_000 });
    assert.equal(reader.lastSeq, 1);
    const seen = (seq: number) =>
      new Promise<number>((resolve, reject) => {
        const startedMs = performance.now();
        const timer = setTimeout(() => reject(new Error(`reader did not reach seq ${seq}`)), 5_000);
        const check = () => {
          if (reader.lastSeq >= seq) {
            clearTimeout(timer);
            resolve(performance.now() - startedMs);
          } else setTimeout(check, 1);
        };
        check();
      });
    for (let i = 2; i <= 20; i++) {
      await writer.whenDurable(writer.write([put(`k${i}`, `${i}`)]));
      await seen(i);
    }
    // A frame written and fdatasync'd but not yet seal-checked (not acked) stays invisible.
    stallSealCheck = true;
    const pending = writer.whenDurable(writer.write([put("late", "x")]));
    await reachedPromise;
    await reader.refresh();
    const lastSeqWhileStalled = reader.lastSeq;
    release();
    assert.equal(lastSeqWhileStalled, 20, "a frame not yet acknowledged is not shown");
    await pending;
    await seen(21);
    // gcGraceMs 0: an L0 or compaction of the writer's may delete SSTs the reader's manifest still
    // lists (SstCompactedAwayError, "read again"); read once the writer is quiet, on its manifest.
    await writer.flusher.idle();
    await writer.compactor.idle();
    await reader.refresh();
    assert.equal((await collect(reader)).get("late"), "x");
    await reader.close();
    await writer.close();
  });
});

describe("a gap in the middle of the segment WAL", () => {
  it("is corruption with a clear error, at open and in inspect --verify, not silent loss", async () => {
    const dir = await makeTempDir("segwal-gap");
    const store = new LocalStore(dir);
    // Small segments, so that a few frames span several: a close with a longer WAL would flush
    // it into an L0 (CLOSE_FLUSH_MIN_WAL_IDS) and leave no frame above the replay point to damage.
    const options: EngineOptions = { ...small, walSegmentBytes: 4 * 1024, l0SstBytes: 1024 * 1024 };
    const engine = await Engine.open(store, options);
    for (let i = 0; i < 20; i++) await engine.whenDurable(engine.write([put(`k${i}`, "v".repeat(900))]));
    await engine.close();
    const clean = await inspectStore(store, { verify: true });
    assert.deepEqual(clean.problems, []);
    const withFrames = clean.segments.filter((s) => s.frames > 0);
    assert.ok(withFrames.length >= 3, `${withFrames.length} segments with frames`);
    // Damage the second frame of the first segment: its later frames and the next segments' stay.
    const first = withFrames[0]!;
    const file = path.join(dir, SEGMENT_WAL_DIR, first.name);
    const bytes = await readFile(file);
    const secondFrameAt = decodeSegment(bytes, Number(first.name.slice(4)), first.name)[1]!.offsetBytes;
    bytes[secondFrameAt + 60] = bytes[secondFrameAt + 60]! ^ 0xff;
    await writeFile(file, bytes);
    const damaged = await inspectStore(store, { verify: true });
    assert.ok(damaged.problems.some((p) => p.code === "corruption" && /gap/.test(p.message)), JSON.stringify(damaged.problems));
    await assert.rejects(Engine.open(store, options), (error: Error & { code?: string }) => error.code === "corruption" && /missing/.test(error.message));
  });
});

/** A file layer over `inner` that records how each segment file's datasync was asked for (inline or not). */
class RecordingDatasyncDirectory extends StallingWalDirectory {
  readonly calls: { name: string; inline: boolean }[] = [];
  /** Run inside every inline datasync (a test moves its clock there: a slow disk). */
  onInline: () => void = () => {};

  constructor(inner: ConstructorParameters<typeof StallingWalDirectory>[0]) {
    super(inner, async () => undefined);
  }

  override async createFile(name: string) {
    return this.#record(name, await this.inner.createFile(name));
  }

  override async openFile(name: string) {
    const file = await this.inner.openFile(name);
    return file === undefined ? undefined : this.#record(name, file);
  }

  #record(name: string, file: WalFile): WalFile {
    return {
      write: (bytes, offsetBytes, options) => file.write(bytes, offsetBytes, options),
      writev: (pieces, offsetBytes) => file.writev(pieces, offsetBytes),
      datasync: (options) => {
        this.calls.push({ name, inline: options?.inline === true });
        if (options?.inline === true) this.onInline();
        return file.datasync(options);
      },
      read: (offsetBytes, lengthBytes) => file.read(offsetBytes, lengthBytes),
      sizeBytes: () => file.sizeBytes(),
      close: () => file.close(),
    };
  }
}

describe("where the group commit's fdatasync runs (walDatasync, decision 0012)", () => {
  // Segment files are opened as spares and renamed: a group commit's datasync is on a file
  // opened as spare-* whose zeros are synced without `inline`; the group commits' are the inline ones.
  const groupCommits = (calls: { inline: boolean }[], inline: boolean) => calls.filter((call) => call.inline === inline).length;

  it("is inline by default: every group commit's fdatasync on the log's thread, a real file's included, and the data reads back", async () => {
    const dir = await makeTempDir("wal-datasync");
    const store = new LocalStore(dir);
    const walDirectory = new RecordingDatasyncDirectory(new NodeWalDirectory(path.join(dir, SEGMENT_WAL_DIR)));
    const engine = await Engine.open(store, { ...small, walDirectory });
    for (let i = 0; i < 20; i++) await engine.whenDurable(engine.write([put(`k${i}`, `v${i}`)]));
    const inlineCalls = groupCommits(walDirectory.calls, true);
    assert.ok(inlineCalls >= 20, `${inlineCalls} inline fdatasyncs for 20 group commits`);
    await engine.close();
    const reopened = await Engine.open(store, small);
    assert.equal((await collect(reopened)).size, 20);
    await reopened.close();
  });

  it("stays on the thread pool with walDatasync \"thread-pool\"", async () => {
    const walDirectory = new RecordingDatasyncDirectory(new SimulatedDisk().directory());
    const engine = await Engine.open(new MemoryStore(), { ...small, walDirectory, walDatasync: "thread-pool" });
    for (let i = 0; i < 10; i++) await engine.whenDurable(engine.write([put(`k${i}`, `v${i}`)]));
    assert.equal(groupCommits(walDirectory.calls, true), 0);
    assert.ok(walDirectory.calls.length >= 10);
    await engine.close();
  });

  it("goes to the thread pool for WAL_INLINE_DATASYNC_BACKOFF_MS after an inline fdatasync that stalled, then inline again", async () => {
    let elapsedMs = 0;
    const clock: Clock = { nowMs: () => Date.now(), elapsedMs: () => elapsedMs, setTimer: (delayMs, fn) => systemClock.setTimer(delayMs, fn), sleep: (delayMs, signal) => systemClock.sleep(delayMs, signal) };
    const walDirectory = new RecordingDatasyncDirectory(new SimulatedDisk().directory());
    const engine = await Engine.open(new MemoryStore(), { ...small, walDirectory, clock });
    const stalls: number[] = [];
    engine.onDiskStall((durationMs) => stalls.push(durationMs));
    const commit = async (key: string) => engine.whenDurable(engine.write([put(key, "v")]));
    await commit("a");
    const lastInline = () => walDirectory.calls.filter((call) => call.name.startsWith("seg-") || call.inline).at(-1)!.inline;
    assert.equal(lastInline(), true);
    assert.deepEqual(stalls, []);
    walDirectory.onInline = () => (elapsedMs += WAL_INLINE_DATASYNC_STALL_MS); // this one stalls
    await commit("b");
    walDirectory.onInline = () => {};
    assert.deepEqual(stalls, [WAL_INLINE_DATASYNC_STALL_MS], "the stall is reported once, with its duration");
    const before = walDirectory.calls.length;
    await commit("c");
    await commit("d");
    assert.deepEqual(walDirectory.calls.slice(before).map((call) => call.inline).filter((inline) => inline), [], "no inline fdatasync during the backoff");
    elapsedMs += WAL_INLINE_DATASYNC_BACKOFF_MS;
    await commit("e");
    assert.equal(lastInline(), true, "inline again after the backoff");
    assert.equal(stalls.length, 1);
    await engine.close();
  });

  it("refuses a walDatasync that is not one of the two, in the engine and in openLog", async () => {
    await assert.rejects(Engine.open(new MemoryStore(), { ...small, walDirectory: new SimulatedDisk().directory(), walDatasync: "sometimes" as never }), { code: "validation" });
    const dir = await makeTempDir("wal-datasync-log");
    await assert.rejects(openLog({ store: `file://${dir}`, walDatasync: "sometimes" as never }), { code: "validation" });
    const log = await openLog({ store: `file://${dir}`, walDatasync: "thread-pool" });
    const stream = await log.openStream("s", { createIfMissing: true });
    await stream.append([{ body: "one" }]);
    await log.close();
  });
});
