/**
 * The main thread's side of a compaction worker (compaction-worker.ts, 0009): one Worker per
 * engine, started at its first compaction, running one job at a time, terminated at close.
 *
 *   main thread                                   worker
 *   run(job) ── "job" ─────────────────────────>  decode, merge, encode
 *   serve.read(key, range) <── "read" ──────────  (an input block run, with a buffer of the worker's to read into)
 *            ── bytes (in that buffer, transferred back) ──>
 *   serve.store(bytes, info) <── "store" ───────  (a finished output SST, transferred)
 *            ── its SstHandle ────────────────>
 *   complete / failure   <── "done" | "failed" ─  ("done" hands back the job's output buffer: serve.keep)
 *
 * The main thread keeps every store request and every decision (ids, manifest, fencing); a
 * failure of the worker itself (a crash, an exit, an error it met) rejects the job with
 * CompactionWorkerError and nothing else: the outputs stored so far are the caller's to delete.
 */
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { CorruptionError, InternalError, StorageError } from "../errors.js";
import { COMPACTION_WORKER_IDLE_MS, COMPACTION_WORKER_NICE, COMPACTION_WORKER_YOUNG_GENERATION_MB } from "../limits.js";
import type { Clock, TimerHandle } from "../util/clock.js";
import type { ByteRange } from "../store/object-store.js";
import type { SstHandle } from "./manifest-format.js";
import type { FromWorker, ToWorker, WorkerFailure, WorkerJob } from "./compaction-worker.js";

/** A compaction worker failed (crashed, exited, or threw what was not a store's or a bug's error): the compaction is abandoned, nothing else. */
export class CompactionWorkerError extends StorageError {
  constructor(detail: string, cause?: unknown) {
    super(`the compaction worker failed: ${detail}`, { retryable: true, outcome: "not_applied", cause });
  }
}

/** What the main thread does for a running job. */
export interface JobService {
  /** The bytes of `range` of `key`: read into `into` where the store can (getInto), else bytes of the store's own. */
  read(key: string, range: ByteRange | undefined, into?: Uint8Array): Promise<Uint8Array>;
  store(bytes: Uint8Array, info: SstHandle["info"]): Promise<SstHandle>;
  /** True once the job should stop (the epoch stopped, the engine is closing). */
  stopped(): boolean;
  /**
   * The store's gets return buffers of their own, and it is done with a put's body once the put
   * resolved (a LocalStore): read bytes move to the worker without a copy, and an output's buffer
   * goes back to the worker after its PUT, for the next output.
   */
  privateBuffers: boolean;
  /** The output buffer the job ended with, handed back with "done" (before run() resolves). */
  keep?(spare: Uint8Array): void;
}

interface RunningJob {
  serve: JobService;
  resolve: (complete: boolean) => void;
  reject: (error: Error) => void;
  /** The first error a request met on the main thread: the job fails with it, as in-thread. */
  mainError: Error | undefined;
}

/**
 * The URL of module `name` (no extension) beside `baseUrl`, with `baseUrl`'s extension: .ts
 * from the sources (under tsx), .js from the built package.
 */
export function moduleBeside(name: string, baseUrl: string): string {
  return new URL(`${name}${path.extname(fileURLToPath(baseUrl))}`, baseUrl).href;
}

export class CompactionWorker {
  #worker: Worker | undefined;
  #job: RunningJob | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** The current worker has loaded its modules and takes jobs at once. */
  #ready = false;
  /**
   * Why a worker failed before it ever was ready (its module could not be loaded: an application
   * bundle without it, a missing file): no worker is started again, and every job is refused at
   * once, so that the caller does its work itself instead of starting a doomed thread per job.
   */
  #unavailable: CompactionWorkerError | undefined;

  /** Ends an idle worker when it fires (COMPACTION_WORKER_IDLE_MS after the last job). */
  #idleTimer: TimerHandle | undefined;

  /** `clock` times the idle end; `moduleUrl` is the worker's module. */
  constructor(
    private readonly clock: Pick<Clock, "setTimer">,
    private readonly moduleUrl: string = moduleBeside("./compaction-worker", import.meta.url),
  ) {}

  /**
   * Whether a job would start at once. Otherwise this starts the worker (if it is not starting
   * already): loading its modules takes tens of ms from the built package, a second or more from
   * the sources under tsx, and the caller does the job itself meanwhile.
   */
  warm(): boolean {
    if (this.#closed || this.#unavailable !== undefined) return false;
    if (this.#worker === undefined) {
      try {
        this.#start();
      } catch {
        return false; // run() reports why
      }
    }
    return this.#ready;
  }

  /** Runs one job; resolves whether it completed (false: stopped). */
  run(job: WorkerJob, serve: JobService): Promise<boolean> {
    if (this.#closed) return Promise.reject(new CompactionWorkerError("it was closed"));
    if (this.#unavailable !== undefined) return Promise.reject(this.#unavailable);
    if (this.#job !== undefined) return Promise.reject(new InternalError("a compaction worker runs one job at a time"));
    let worker: Worker;
    try {
      worker = this.#start();
    } catch (error) {
      return Promise.reject(new CompactionWorkerError(error instanceof Error ? error.message : String(error), error));
    }
    this.#cancelIdleEnd();
    return new Promise<boolean>((resolve, reject) => {
      this.#job = { serve, resolve, reject, mainError: undefined };
      worker.ref();
      const outputBuffer = job.outputBuffer?.buffer;
      worker.postMessage({ type: "job", job } satisfies ToWorker, outputBuffer instanceof ArrayBuffer ? [outputBuffer] : []);
    });
  }

  /** Terminates the worker (a running job fails); resolves once it exited, however often it is called. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#cancelIdleEnd();
    const worker = this.#worker;
    this.#worker = undefined;
    this.#settle(new CompactionWorkerError("it was closed"));
    if (worker !== undefined) await worker.terminate();
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = newWorker(this.moduleUrl);
    this.#ready = false;
    worker.on("message", (message: FromWorker) => this.#onMessage(worker, message));
    worker.on("error", (error) => this.#discard(worker, new CompactionWorkerError(error.message, error)));
    worker.on("exit", (exitCode) => this.#discard(worker, new CompactionWorkerError(`it exited with code ${exitCode}`)));
    worker.unref();
    this.#worker = worker;
    this.#endWhenIdle(); // started by warm() and then never given a job, it ends too
    return worker;
  }

  /** False once a worker failed before it was ready: no job runs in a worker again (#unavailable). */
  get available(): boolean {
    return this.#unavailable === undefined && !this.#closed;
  }

  /** Why no worker runs jobs any more (a worker failed before it was ready), if that happened. */
  get unavailableError(): CompactionWorkerError | undefined {
    return this.#unavailable;
  }

  #discard(worker: Worker, error: Error): void {
    if (this.#worker !== worker) return;
    if (!this.#ready) {
      this.#unavailable = new CompactionWorkerError(
        `it could not start (${error.message}); its module ${this.moduleUrl} must be loadable beside the code that starts it ` +
          `(an application bundle must ship it: see the README on bundlers), or set compactionThread: "main". Compactions run on the log's thread from now on`,
        error,
      );
      error = this.#unavailable;
    }
    this.#worker = undefined;
    this.#ready = false;
    void worker.terminate();
    this.#settle(error);
  }

  #settle(outcome: boolean | Error): void {
    const job = this.#job;
    this.#job = undefined;
    this.#worker?.unref();
    this.#endWhenIdle();
    if (job === undefined) return;
    if (typeof outcome === "boolean") job.resolve(outcome);
    else job.reject(job.mainError ?? outcome);
  }

  /** After a job: the worker ends unless another job comes within COMPACTION_WORKER_IDLE_MS. */
  #endWhenIdle(): void {
    this.#cancelIdleEnd();
    const worker = this.#worker;
    if (worker === undefined || this.#closed) return;
    const timer = this.clock.setTimer(COMPACTION_WORKER_IDLE_MS, () => {
      if (this.#idleTimer !== timer || this.#worker !== worker || this.#job !== undefined) return;
      this.#idleTimer = undefined;
      this.#worker = undefined; // before terminate: its exit is then no failure (#discard)
      this.#ready = false;
      void worker.terminate();
    });
    timer.unref?.(); // an idle worker never keeps the process alive, nor does its timer
    this.#idleTimer = timer;
  }

  #cancelIdleEnd(): void {
    this.#idleTimer?.cancel();
    this.#idleTimer = undefined;
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    if (message.type === "ready") {
      if (this.#worker === worker) this.#ready = true;
      return;
    }
    const job = this.#job;
    if (job === undefined || this.#worker !== worker) return;
    switch (message.type) {
      case "done":
        if (message.spare !== undefined) job.serve.keep?.(message.spare);
        return job.mainError === undefined ? this.#settle(message.complete) : this.#settle(job.mainError);
      case "failed":
        return this.#settle(errorOf(message.failure));
      case "read":
      case "store":
        return this.#serve(worker, job, message);
    }
  }

  #serve(worker: Worker, job: RunningJob, request: FromWorker & { type: "read" | "store" }): void {
    const refuse = () => worker.postMessage({ type: request.type === "read" ? "read" : "stored", id: request.id } satisfies ToWorker);
    if (job.mainError !== undefined || job.serve.stopped()) {
      worker.postMessage({ type: "stop" } satisfies ToWorker);
      return refuse();
    }
    const served = request.type === "read" ? this.#serveRead(worker, job, request) : this.#serveStore(worker, job, request);
    served.catch((error: unknown) => {
      job.mainError ??= error instanceof Error ? error : new StorageError(String(error));
      if (this.#worker === worker) refuse();
    });
  }

  async #serveRead(worker: Worker, job: RunningJob, request: { id: number; key: string; range?: ByteRange | undefined; into?: Uint8Array | undefined }): Promise<void> {
    const { into } = request;
    if (into !== undefined) {
      // The worker's buffer goes back with the bytes in it (a store without getInto read into one of its own: copied over).
      const bytes = await job.serve.read(request.key, request.range, into);
      const sent = bytes.buffer === into.buffer ? bytes : copyInto(into, bytes);
      worker.postMessage({ type: "read", id: request.id, bytes: sent } satisfies ToWorker, [into.buffer as ArrayBuffer]);
      return;
    }
    const bytes = await job.serve.read(request.key, request.range);
    // A store's bytes may be shared (a pool, a MemoryStore's object): then the worker gets a private copy.
    const own = job.serve.privateBuffers ? wholeBuffer(bytes) : undefined;
    const sent = own !== undefined ? bytes : Uint8Array.from(bytes);
    worker.postMessage({ type: "read", id: request.id, bytes: sent } satisfies ToWorker, [sent.buffer as ArrayBuffer]);
  }

  async #serveStore(worker: Worker, job: RunningJob, request: { id: number; bytes: Uint8Array; info: SstHandle["info"] }): Promise<void> {
    const handle = await job.serve.store(request.bytes, request.info);
    const buffer = request.bytes.buffer;
    if (job.serve.privateBuffers && buffer instanceof ArrayBuffer) {
      const spare = new Uint8Array(buffer, request.bytes.byteOffset); // the PUT resolved: the store is done with it
      worker.postMessage({ type: "stored", id: request.id, handle, spare } satisfies ToWorker, [buffer]);
    } else {
      worker.postMessage({ type: "stored", id: request.id, handle } satisfies ToWorker);
    }
  }
}

/** `bytes` copied to the start of `into` (a view of it); a range longer than `into` is a store's bug. */
function copyInto(into: Uint8Array, bytes: Uint8Array): Uint8Array {
  if (bytes.length > into.length) throw new InternalError(`a read of ${bytes.length} bytes into a buffer of ${into.length}`);
  into.set(bytes);
  return into.subarray(0, bytes.length);
}

/** The bytes' ArrayBuffer when they are all of it (they can move to another thread whole). */
function wholeBuffer(bytes: Uint8Array): ArrayBuffer | undefined {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? buffer : undefined;
}

/**
 * A Worker running the module at `moduleUrl`. The built package (.js) needs nothing. From the
 * sources (a .ts module, under tsx) the worker registers tsx first: on Node 20, `--import tsx` in
 * the inherited execArgv does not reach a worker's module loading. It registers tsx's require
 * hook and requires the module (tsx compiles it to CommonJS), not tsx's ESM loader: Node runs
 * module loader hooks on a thread of their own, a third V8 instance that held about 17 MiB
 * (bench/README.md, "The worker's buffers"). The worker loads .ts filter modules the same way.
 */
function newWorker(moduleUrl: string): Worker {
  const options = { workerData: { nice: COMPACTION_WORKER_NICE }, resourceLimits: { maxYoungGenerationSizeMb: COMPACTION_WORKER_YOUNG_GENERATION_MB } };
  if (!moduleUrl.endsWith(".ts")) return new Worker(new URL(moduleUrl), options);
  const tsxRequireHook = createRequire(import.meta.url).resolve("tsx/cjs/api");
  const load = `require(${JSON.stringify(tsxRequireHook)}).register(); require(${JSON.stringify(fileURLToPath(moduleUrl))});`;
  return new Worker(load, { eval: true, ...options });
}

/** The main thread's error for a failure the worker reported: a bug stays a bug, damage stays damage. */
function errorOf(failure: WorkerFailure): Error {
  if (failure.code === "internal") return new InternalError(`in the compaction worker: ${failure.message}`);
  if (failure.code === "corruption") return new CorruptionError(failure.key ?? "an SST", `found by the compaction worker: ${failure.message}`);
  return new CompactionWorkerError(failure.message);
}
