/**
 * Compaction in a worker thread (docs/decisions/0009-compaction-worker.md), for real: a Log on a
 * LocalStore whose compactions run through the worker must leave exactly what the in-thread path
 * leaves (every record, every trim, deletion and retention result); a worker that dies mid-job
 * fails that compaction only (it is retried, nothing is lost, no orphan SST stays); a closed log
 * leaves no worker running.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Worker } from "node:worker_threads";
import { LocalStore, MemoryStore, openLog, type Log, type LogOptions } from "../../src/index.js";
import { ManualClock } from "../../src/util/clock.js";
import { COMPACTION_WORKER_IDLE_MS } from "../../src/limits.js";
import { CompactionWorker, CompactionWorkerError, type JobService } from "../../src/engine/compaction-offload.js";
import type { WorkerJob } from "../../src/engine/compaction-worker.js";
import { collect } from "../helpers/stream-helpers.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const T0 = 1_767_225_600_000;
/** Small memtables: a few hundred appends make many L0 flushes and compactions. */
const OPTIONS = { flushIntervalMs: 0, l0SstBytes: 4096, gcIntervalMs: 0, gcGraceMs: 0 } as const;
const BODY_BYTES = 200;
const L0_COMPACTION_TRIGGER = 4; // the engine's default
const COUNTS = [["keep", 400], ["trimmed", 200], ["aged", 200], ["gone", 1000]] as const;

/** Every Worker this process starts while `body` runs (the process-wide "worker" event). */
async function watchWorkers<T>(body: (workers: Worker[], exited: Set<Worker>) => Promise<T>): Promise<T> {
  const workers: Worker[] = [];
  const exited = new Set<Worker>();
  const onWorker = (worker: Worker) => {
    workers.push(worker);
    worker.once("exit", () => exited.add(worker));
  };
  process.on("worker", onWorker);
  try {
    return await body(workers, exited);
  } finally {
    process.off("worker", onWorker);
  }
}

const body = (stream: string, i: number) => `${stream}-${i}-`.padEnd(BODY_BYTES, "x");

/**
 * Waits until compaction is quiet: fewer L0s than the trigger and no compaction finished for 100
 * polls in a row (a merge in another thread has no gate to wait on); bounded.
 */
async function untilCompacted(log: Log): Promise<void> {
  let last = -1;
  let quiet = 0;
  for (let turn = 0; turn < 20_000; turn++) {
    const m = log.metrics().engine;
    quiet = m.compactions === last && m.l0Count < L0_COMPACTION_TRIGGER ? quiet + 1 : 0;
    if (quiet >= 100) return;
    last = m.compactions;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.fail(`compaction did not settle: ${JSON.stringify(log.metrics().engine)}`);
}

interface Outcome {
  streams: string[];
  records: Record<string, string[]>;
  compactions: number;
  workers: number;
  /** Output SSTs the worker built (its "store" requests). */
  workerOutputs: number;
}

/**
 * The same workload in either mode: four streams; "trimmed" trimmed at 150, "gone" deleted,
 * "aged" past its one-hour retention; then a wait until compaction is quiet.
 */
async function runWorkload(compactionThread: "worker" | "main", extra: Partial<LogOptions> = {}): Promise<Outcome> {
  const dir = await makeTempDir(`compaction-${compactionThread}`);
  const clock = new ManualClock({ startMs: T0 });
  const options: LogOptions = { ...OPTIONS, store: new LocalStore(dir), clock, compactionThread, ...extra };
  return watchWorkers(async (workers) => {
    let workerOutputs = 0;
    let workerReady = false;
    const countOutputs = (worker: Worker) =>
      worker.on("message", (message: { type?: string }) => {
        if (message.type === "store") workerOutputs++;
        if (message.type === "ready") workerReady = true;
      });
    process.on("worker", countOutputs);
    const log = await openLog(options);
    try {
      for (const [name, count] of COUNTS) {
        const stream = await log.openStream(name, { createIfMissing: true, config: name === "aged" ? { retention: { ageSeconds: 3600 } } : { retention: "infinite" } });
        for (let i = 0; i < count; i += 10) await stream.append(Array.from({ length: 10 }, (_, k) => ({ body: body(name, i + k) })));
        // The first compactions run on this thread while the worker starts: let it start before the rest (bounded).
        for (let turn = 0; turn < 3000 && compactionThread === "worker" && !workerReady; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await (await log.openStream("trimmed")).trim(150);
      await clock.advance(2 * 3600 * 1000);
      await log.deleteStream("gone"); // its dead bytes force a bottom-most merge of every run
      await untilCompacted(log);
      const streams = (await log.listStreams()).map((info) => info.name);
      const records: Record<string, string[]> = {};
      for (const name of streams) {
        const read = await collect((await log.openStream(name)).read({ from: { seqNum: 0 } }));
        records[name] = read.map((r) => `${r.seqNum}:${Buffer.from(r.body).toString()}`);
      }
      const { compactions } = log.metrics().engine;
      await log.close();
      return { streams, records, compactions, workers: workers.length, workerOutputs };
    } finally {
      await log.close();
      process.off("worker", countOutputs);
    }
  });
}

test("compactions through the worker leave every record, trim, deletion and retention result the in-thread path leaves", async () => {
  const inThread = await runWorkload("main");
  const inWorker = await runWorkload("worker");
  assert.equal(inThread.workers, 0, "the in-thread path starts no worker");
  // One worker, or two: the workload's two-hour clock step can end an idle worker
  // (COMPACTION_WORKER_IDLE_MS), and the next compaction starts another.
  assert.ok(inWorker.workers >= 1 && inWorker.workers <= 2, `the worker path starts one worker, or two (${inWorker.workers})`);
  assert.ok(inWorker.workerOutputs > 0, "compactions ran in the worker");
  assert.ok(inThread.compactions > 0 && inWorker.compactions > 0, `both compacted (${inThread.compactions}, ${inWorker.compactions})`);
  assert.deepEqual(inWorker.streams, ["aged", "keep", "trimmed"]);
  assert.deepEqual(inWorker.streams, inThread.streams);
  assert.deepEqual(inWorker.records, inThread.records);
  assert.equal(inWorker.records.keep!.length, 400);
  assert.equal(inWorker.records.trimmed![0], `150:${body("trimmed", 150)}`);
  assert.equal(inWorker.records.aged!.length, 0, "past its retention, no record of aged is read");
});

test("a job of many outputs, each built in the buffer the main thread handed back after the previous one's PUT, leaves what the in-thread path leaves", async () => {
  // Outputs of at most 4 KiB: the bottom-most merge after the deletion writes dozens per job.
  const small = { maxSstBytes: 4096 };
  const inThread = await runWorkload("main", small);
  const inWorker = await runWorkload("worker", small);
  assert.ok(inWorker.workerOutputs > 2 * inWorker.compactions, `several outputs per job (${inWorker.workerOutputs} in ${inWorker.compactions} compactions)`);
  assert.deepEqual(inWorker.streams, inThread.streams);
  assert.deepEqual(inWorker.records, inThread.records);
  assert.equal(inWorker.records.keep!.length, 400);
});

test("on a store that cannot read into a buffer (a MemoryStore: no getInto) the worker's reads are copied into its own buffers and leave what the in-thread path leaves", async () => {
  const inThread = await runWorkload("main", { store: new MemoryStore() });
  const inWorker = await runWorkload("worker", { store: new MemoryStore() });
  assert.ok(inWorker.workerOutputs > 0, "compactions ran in the worker");
  assert.deepEqual(inWorker.streams, inThread.streams);
  assert.deepEqual(inWorker.records, inThread.records);
  assert.equal(inWorker.records.keep!.length, 400);
});

test("a compaction worker that dies mid-job fails that compaction only: it is reported, retried, and nothing is lost; close ends the worker", async () => {
  const dir = await makeTempDir("compaction-worker-crash");
  const warnings: string[] = [];
  await watchWorkers(async (workers, exited) => {
    let killed: Promise<number> | undefined;
    const onWorker = (worker: Worker) =>
      worker.on("message", (message: { type?: string }) => {
        if (message.type === "read" && killed === undefined) killed = worker.terminate(); // in the middle of its first job, at its first input read
      });
    process.on("worker", onWorker);
    const store = new LocalStore(dir);
    const logger = { warn: (_fields: object, message: string) => void warnings.push(message) };
    const log = await openLog({ ...OPTIONS, store, clock: new ManualClock({ startMs: T0 }), compactionThread: "worker", logger });
    const stream = await log.openStream("s", { createIfMissing: true });
    let appended = 0;
    const appendTen = async () => {
      await stream.append(Array.from({ length: 10 }, (_, k) => ({ body: body("s", appended + k) })));
      appended += 10;
    };
    // Compactions run on this thread until the worker has started; append until one ran in it (bounded).
    for (let turn = 0; turn < 2000 && killed === undefined; turn++) {
      await appendTen();
      if (turn % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(killed !== undefined, "precondition: a compaction job read its inputs in the worker");
    await killed;
    const compactionsAtKill = log.metrics().engine.compactions;
    for (let turn = 0; turn < 40; turn++) await appendTen();
    await untilCompacted(log);
    assert.ok(warnings.some((m) => m.includes("the compaction worker failed")), `the failure was reported: ${JSON.stringify(warnings)}`);
    assert.equal(log.metrics().engine.state, "open", "a worker's failure does not close or reset the log");
    assert.equal(log.metrics().engine.resets, 0);
    assert.ok(log.metrics().engine.compactions > compactionsAtKill, "compactions went on after the failure");
    assert.ok(workers.length >= 2, `a new worker took over after the first died (${workers.length})`);
    process.off("worker", onWorker);
    const read = await collect(stream.read({ from: { seqNum: 0 } }));
    assert.deepEqual(read.map((r) => Buffer.from(r.body).toString()), Array.from({ length: appended }, (_, i) => body("s", i)));
    assert.ok(exited.size < workers.length, "precondition: a worker is running before the close");
    await log.close();
    assert.equal(exited.size, workers.length, "close resolved after every compaction worker exited");
  });
});

/** Polls `done` every 5 ms of real time (a worker thread's exit has no gate to wait on); bounded. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 2000 && !done(); turn++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(done(), what);
}

test("an idle compaction worker ends after COMPACTION_WORKER_IDLE_MS of the log's clock; the next compaction starts a new one", async () => {
  const dir = await makeTempDir("compaction-worker-idle");
  const clock = new ManualClock({ startMs: T0 });
  await watchWorkers(async (workers, exited) => {
    const log = await openLog({ ...OPTIONS, store: new LocalStore(dir), clock, compactionThread: "worker" });
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      const appendFrom = async (from: number) => {
        for (let i = from; i < from + 300; i += 10) await stream.append(Array.from({ length: 10 }, (_, k) => ({ body: body("s", i + k) })));
      };
      await appendFrom(0);
      await untilCompacted(log);
      assert.equal(workers.length, 1, "compaction started a worker");
      await clock.advance(COMPACTION_WORKER_IDLE_MS - 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(exited.size, 0, "not idle long enough yet");
      await clock.advance(1);
      await until(() => exited.size === 1, "the idle worker ended");
      await appendFrom(300);
      await untilCompacted(log);
      assert.equal(workers.length, 2, "the next compaction started a new worker");
      const read = await collect(stream.read({ from: { seqNum: 0 } }));
      assert.deepEqual(read.map((r) => Buffer.from(r.body).toString()), Array.from({ length: 600 }, (_, i) => body("s", i)));
    } finally {
      await log.close();
    }
    await until(() => exited.size === workers.length, "close ended every worker");
  });
});

/** A LocalStore that counts the SST buffers it is asked for (allocatePutBuffer), by size. */
class CountingStore extends LocalStore {
  readonly allocatedBytes: number[] = [];
  override allocatePutBuffer(sizeBytes: number): Uint8Array {
    this.allocatedBytes.push(sizeBytes);
    return super.allocatePutBuffer(sizeBytes);
  }
}

test("a worker job's output buffer comes back with \"done\" and is the next job's: no buffer allocated (and probed) per job", async () => {
  const dir = await makeTempDir("compaction-worker-buffer");
  const store = new CountingStore(dir);
  // Every job's first output buffer is maxSstBytes (its inputs are larger), well above an L0's.
  const maxSstBytes = 64 * 1024;
  await watchWorkers(async () => {
    let done = 0;
    let handedBack = 0;
    let ready = false;
    const onWorker = (worker: Worker) =>
      worker.on("message", (message: { type?: string; spare?: unknown }) => {
        if (message.type === "ready") ready = true;
        if (message.type !== "done") return;
        done++;
        if (message.spare !== undefined) handedBack++;
      });
    process.on("worker", onWorker);
    const log = await openLog({ ...OPTIONS, maxSstBytes, store, clock: new ManualClock({ startMs: T0 }), compactionThread: "worker" });
    try {
      const stream = await log.openStream("s", { createIfMissing: true });
      let appended = 0;
      const appendTen = async () => {
        await stream.append(Array.from({ length: 10 }, (_, k) => ({ body: body("s", appended + k) })));
        appended += 10;
      };
      for (let turn = 0; turn < 3000 && !ready; turn++) {
        await appendTen();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.ok(ready, "precondition: the worker started");
      for (let turn = 0; turn < 4000 && done < 1; turn++) await appendTen();
      await untilCompacted(log);
      const jobsBefore = done;
      const largeBefore = store.allocatedBytes.filter((bytes) => bytes >= maxSstBytes).length;
      for (let turn = 0; turn < 4000 && done < jobsBefore + 6; turn++) await appendTen();
      await untilCompacted(log);
      const jobs = done - jobsBefore;
      const large = store.allocatedBytes.filter((bytes) => bytes >= maxSstBytes).length - largeBefore;
      assert.ok(jobs >= 6, `precondition: six more jobs ran in the worker (${jobs})`);
      assert.equal(handedBack, done, "every job handed its buffer back with \"done\"");
      assert.ok(large <= 1, `${large} compaction buffers allocated for ${jobs} jobs`);
      const read = await collect(stream.read({ from: { seqNum: 0 } }));
      assert.deepEqual(read.map((r) => Buffer.from(r.body).toString()), Array.from({ length: appended }, (_, i) => body("s", i)));
    } finally {
      await log.close();
      process.off("worker", onWorker);
    }
  });
});

test("a worker whose module cannot be loaded (a bundle without it) is not started again: every job is refused at once, with a message that says what to do", async () => {
  const dir = await makeTempDir("compaction-worker-missing");
  const missing = new URL(`file://${dir}/compaction-worker.mjs`).href;
  await watchWorkers(async (workers) => {
    const worker = new CompactionWorker(new ManualClock(), missing);
    const serve: JobService = {
      read: () => Promise.reject(new Error("no read expected")),
      store: () => Promise.reject(new Error("no store expected")),
      stopped: () => false,
      privateBuffers: false,
    };
    const job: WorkerJob = { settings: { blockBytes: 4096, maxSstBytes: 1 << 20, inputBytes: 0, nowMs: T0, bottomMost: false }, inputs: [], readBytes: 4096 };
    assert.equal(worker.available, true);
    await assert.rejects(worker.run(job, serve), (error: unknown) => error instanceof CompactionWorkerError && /could not start/.test(error.message) && error.message.includes(missing) && /compactionThread: "main"/.test(error.message));
    assert.equal(worker.available, false);
    assert.equal(worker.warm(), false, "warm() starts no worker either");
    const started = workers.length;
    assert.equal(started, 1);
    await assert.rejects(worker.run(job, serve), (error: unknown) => error === worker.unavailableError, "the same error, at once");
    assert.equal(workers.length, started, "no second worker was started");
    await worker.close();
  });
});
