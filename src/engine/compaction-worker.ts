/**
 * The entry of a compaction worker thread (0009): it decodes the input SSTs, merges them and
 * builds the output SSTs, off the engine's thread. It owns no store and decides nothing: every
 * byte it reads is fetched by the main thread (ToWorker "read"), every output goes back to the
 * main thread to be named and PUT (FromWorker "store"), and the main thread alone changes the
 * manifest. One job at a time; the protocol's types are below, the main side is compaction-offload.ts.
 */
import { readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { parentPort, workerData } from "node:worker_threads";
import path from "node:path";
import { assert, CorruptionError, isDurastreamError } from "../errors.js";
import { COMPACTION_WORKER_READ_POOL_BYTES } from "../limits.js";
import { compareKeys } from "./entry.js";
import { concatSources, type EntrySource } from "./read-path.js";
import { BlockCache } from "./block-cache.js";
import { SstReader } from "./sst-reader.js";
import { sstKey } from "./paths.js";
import { mergeInputs, type MergeSettings } from "./compaction-merge.js";
import type { EntryFilterOptions, SstOutputBuffers, SstPut } from "./compaction-output.js";
import type { BlockHandle } from "./sst-format.js";
import type { SstHandle } from "./manifest-format.js";
import type { ByteRange, ListEntry, ObjectInfo, ObjectStore, PutResult } from "../store/object-store.js";
import type { SstIdSource } from "./sst-ids.js";

export interface WorkerJob {
  settings: MergeSettings;
  /** The most bytes one input read asks for (its scans' readaheadBytes), and the size of the worker's read buffers. */
  readBytes: number;
  /** Newest first; each element is one source (an L0, or a run's SSTs in key order). */
  inputs: SstHandle[][];
  /** The filter to rebuild (WorkerFilterSpec's module and snapshot); none: keep every live entry. */
  filter?: { moduleUrl: string; data: unknown };
  /**
   * A buffer for the first output (transferred with the job): on a LocalStore one that its puts
   * write around the page cache (store/direct-write.ts); it then goes back and forth as the spare,
   * and back to the main thread with "done" (kept there for the next job).
   */
  outputBuffer?: Uint8Array;
}

export type ToWorker =
  | { type: "job"; job: WorkerJob }
  | { type: "read"; id: number; bytes?: Uint8Array }
  | { type: "stored"; id: number; handle?: SstHandle; spare?: Uint8Array }
  | { type: "stop" };

/** A failure inside the worker, as data: `code` when it was a durastream error. */
export interface WorkerFailure {
  code?: string;
  key?: string;
  message: string;
}

/**
 * What the worker asks of the main thread: bytes of an input (read into `into`, transferred and
 * sent back, when given: InputReadBuffers), or to store an output.
 */
export type WorkerRequest = { type: "read"; key: string; range?: ByteRange; into?: Uint8Array } | { type: "store"; bytes: Uint8Array; info: SstHandle["info"] };

export type FromWorker =
  | (WorkerRequest & { id: number })
  | { type: "ready" }
  /** `spare`: the output buffer the job ended with (the job's own, or one the worker made), transferred. */
  | { type: "done"; complete: boolean; spare?: Uint8Array }
  | { type: "failed"; failure: WorkerFailure };

/** A reply the main thread gave without bytes or handle: it failed or stopped the job there (it keeps the cause). */
class RequestRefused extends Error {}

/**
 * Request ids, unique for the worker's life: a reply to a request of an ended job (a read still
 * under way when the job failed) must not answer a request of the next job.
 */
let nextRequestId = 0;

/** Requests to the main thread, matched to their replies by id. */
class MainThread {
  /** An output's buffer the main thread handed back once its PUT resolved (HandedBackBuffers). */
  spare: Uint8Array | undefined;
  readonly #pending = new Map<number, { resolve: (value: Uint8Array | SstHandle) => void; reject: (error: Error) => void }>();
  stopped = false;

  constructor(private readonly port: NonNullable<typeof parentPort>) {}

  request<T extends Uint8Array | SstHandle>(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: Uint8Array | SstHandle) => void, reject });
      this.port.postMessage({ ...message, id } as FromWorker, transfer);
    });
  }

  reply(id: number, value: Uint8Array | SstHandle | undefined): void {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    if (pending === undefined) return;
    if (value === undefined) pending.reject(new RequestRefused(`the main thread refused request ${id}`));
    else pending.resolve(value);
  }
}

/**
 * Output buffers for a job: an output's buffer moves to the main thread with the output, and
 * comes back with the reply when the store is done with it (a LocalStore), so that one buffer
 * serves every output of the job. Otherwise each output gets a fresh one.
 */
class HandedBackBuffers implements SstOutputBuffers {
  constructor(private readonly main: MainThread) {}
  take(minBytes: number): Uint8Array {
    const spare = this.main.spare;
    this.main.spare = undefined;
    return spare !== undefined && spare.length >= minBytes ? spare : new Uint8Array(new ArrayBuffer(minBytes));
  }
  give(): void {} // it was transferred with the output: the main thread hands it back, or keeps it
  forget(): void {}
}

/**
 * The buffers a worker's input reads land in, kept from read to read and from job to job, so that
 * a merge does not leave a GET's buffer of garbage in this isolate per read: garbage that V8
 * collects only after 64 MiB more of it, a second such allowance beside the log's thread
 * (bench/README.md, "The worker's buffers"). At most `maxBuffers` exist. Each is free, out (at
 * the main thread, which reads into it and sends it back) or lent (the merge reads the bytes:
 * values are views of them, OwnRows in sst-reader.ts).
 *
 *   take ──> read into it ──> lend(last key it holds) ──> the merge took a key above that ──> free
 *                        └──> the read failed: lost (its slot may make a new buffer)
 *
 * Invariant: a lent buffer is free again only once the merge took an entry whose key sorts after
 * every key the buffer holds. The merge hands entries to its writer in ascending key order, and
 * only once no source's next entry sorts below them, so by then every block of the buffer was
 * decoded and every value of it copied into an output: nothing reads it any more. A read whose
 * last key is not known (an SST's index, read while its reader opens) is free once the reader is
 * open (the reader keeps a copy of its index). At the end of a job every lent buffer is free, and
 * reads still under way are given up (their replies no longer reach this pool).
 */
export class InputReadBuffers {
  readonly #free: ArrayBuffer[] = [];
  readonly #lent: { buffer: ArrayBufferLike; sstKey: string; lastKey: Uint8Array | undefined }[] = [];
  /** Buffers that exist: free, out or lent. */
  #count = 0;
  #out = 0;
  /** The smallest last key of a lent buffer; undefined when no lent buffer has one. */
  #lowest: Uint8Array | undefined;
  /** Counts jobs: a read of an earlier job is not this job's to lend or lose. */
  generation = 0;

  constructor(
    readonly bufferBytes: number,
    readonly maxBuffers: number,
  ) {
    assert(Number.isSafeInteger(bufferBytes) && bufferBytes > 0 && Number.isSafeInteger(maxBuffers) && maxBuffers >= 0, "InputReadBuffers needs bufferBytes > 0 and maxBuffers >= 0");
  }

  /** A buffer to read into: a free one, else a new one while fewer than maxBuffers exist; undefined when every one is in use. */
  take(): ArrayBuffer | undefined {
    let buffer = this.#free.pop();
    if (buffer === undefined) {
      if (this.#count >= this.maxBuffers) return undefined;
      buffer = new ArrayBuffer(this.bufferBytes);
      this.#count++;
    }
    this.#out++;
    return buffer;
  }

  /** The read of a buffer taken in job `generation` failed: the buffer stays where it is, and its slot is free. */
  lost(generation: number): void {
    if (generation !== this.generation) return;
    this.#out--;
    this.#count--;
  }

  /**
   * The read of a buffer taken in job `generation` brought `bytes` (a view of it) of `sstKey`,
   * whose keys go up to `lastKey` (undefined: not known before the SST's reader is open).
   */
  lend(generation: number, bytes: Uint8Array, sstKey: string, lastKey: Uint8Array | undefined): void {
    if (generation !== this.generation) return; // given up at the end of its job
    assert(bytes.buffer.byteLength === this.bufferBytes, "a pooled read came back in a buffer that is not the pool's");
    this.#out--;
    this.#lent.push({ buffer: bytes.buffer, sstKey, lastKey });
    if (lastKey !== undefined && (this.#lowest === undefined || compareKeys(lastKey, this.#lowest) < 0)) this.#lowest = lastKey;
  }

  /** `sstKey`'s reader is open: the reads of it with no last key are free. */
  opened(sstKey: string): void {
    this.#release((lent) => lent.lastKey === undefined && lent.sstKey === sstKey);
  }

  /** The merge took an entry of `key` (keys come in ascending order): buffers whose keys are all below it are free. */
  taken(key: Uint8Array): void {
    const lowest = this.#lowest;
    if (lowest === undefined || compareKeys(lowest, key) >= 0) return;
    this.#release((lent) => lent.lastKey !== undefined && compareKeys(lent.lastKey, key) < 0);
  }

  /** The job ended (its merge returned or threw): every lent buffer is free; reads under way are given up. */
  endJob(): void {
    this.#release(() => true);
    this.#count -= this.#out;
    this.#out = 0;
    this.generation++;
  }

  /** Buffers that exist (free, out or lent); at most maxBuffers. */
  get count(): number {
    return this.#count;
  }

  /** Buffers lent to the merge. */
  get lentCount(): number {
    return this.#lent.length;
  }

  #release(free: (lent: { sstKey: string; lastKey: Uint8Array | undefined }) => boolean): void {
    let lowest: Uint8Array | undefined;
    let kept = 0;
    for (const lent of this.#lent) {
      if (free(lent)) {
        this.#free.push(lent.buffer as ArrayBuffer);
        continue;
      }
      this.#lent[kept++] = lent;
      if (lent.lastKey !== undefined && (lowest === undefined || compareKeys(lent.lastKey, lowest) < 0)) lowest = lent.lastKey;
    }
    this.#lent.length = kept;
    this.#lowest = lowest;
  }
}

/** A read of an input: the bytes of `range` of `key`, a view of `into`'s buffer (transferred and back) when given. */
export type InputFetch = (key: string, range: ByteRange | undefined, into?: Uint8Array) => Promise<Uint8Array>;

/**
 * The store the worker's SstReaders read through: each GET is made by `fetch` (the main thread),
 * into a buffer of InputReadBuffers where one is free and the range fits.
 */
export class InputStore implements ObjectStore {
  readonly description = "the main thread's store (compaction worker)";
  /** The block handles of each input SST whose reader is open: where a read's last key is found. */
  readonly #blocks = new Map<string, readonly BlockHandle[]>();

  constructor(
    private readonly fetch: InputFetch,
    private readonly buffers: InputReadBuffers,
  ) {}

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const fits = range?.length !== undefined && range.length <= this.buffers.bufferBytes;
    const buffer = fits ? this.buffers.take() : undefined;
    if (buffer === undefined) return this.fetch(key, range);
    const generation = this.buffers.generation;
    let bytes: Uint8Array;
    try {
      bytes = await this.fetch(key, range, new Uint8Array(buffer));
    } catch (error) {
      this.buffers.lost(generation);
      throw error;
    }
    this.buffers.lend(generation, bytes, key, range === undefined ? undefined : this.#lastKeyOf(key, range));
    return bytes;
  }

  /** `key`'s reader is open: the reads made while it opened (its index, which it copied) are free. */
  opened(key: string, reader: SstReader): void {
    this.#blocks.set(key, reader.blockHandles);
    this.buffers.opened(key);
  }

  /** The last key of the blocks `range` holds; undefined before `key`'s reader is open. */
  #lastKeyOf(key: string, range: ByteRange): Uint8Array | undefined {
    const handles = this.#blocks.get(key);
    if (handles === undefined || range.length === undefined) return undefined;
    const end = range.offset + range.length;
    let lo = 0;
    let hi = handles.length; // the first block at or past `end`
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((handles[mid] as BlockHandle).offset < end) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? undefined : (handles[lo - 1] as BlockHandle).lastKey;
  }
  head(key: string): Promise<ObjectInfo> {
    return Promise.reject(new Error(`a compaction worker reads SSTs with their SstInfo: no HEAD of ${key}`));
  }
  put(key: string): Promise<PutResult> {
    return Promise.reject(new Error(`a compaction worker never writes to the store (${key})`));
  }
  delete(key: string): Promise<void> {
    return Promise.reject(new Error(`a compaction worker never deletes (${key})`));
  }
  async *list(prefix: string): AsyncIterable<ListEntry> {
    throw new Error(`a compaction worker never lists (${prefix})`);
  }
}

type FilterModule = { createWorkerFilter: (data: unknown) => EntryFilterOptions };
const filterModules = new Map<string, Promise<FilterModule>>();

async function filterOf(spec: WorkerJob["filter"]): Promise<EntryFilterOptions> {
  if (spec === undefined) return { compactionFilter: undefined, isWriteOnceKey: undefined };
  let module = filterModules.get(spec.moduleUrl);
  if (module === undefined) {
    module = loadFilterModule(spec.moduleUrl);
    filterModules.set(spec.moduleUrl, module);
  }
  return (await module).createWorkerFilter(spec.data);
}

/**
 * A filter module: imported, or, from the sources (.ts), required as this worker was, through
 * tsx's require hook (compaction-offload.ts newWorker): the worker has no ESM loader for .ts.
 */
async function loadFilterModule(moduleUrl: string): Promise<FilterModule> {
  if (!moduleUrl.endsWith(".ts")) return (await import(moduleUrl)) as FilterModule;
  const file = fileURLToPath(moduleUrl);
  return createRequire(file)(file) as FilterModule;
}

/** What a job's merge does through the main thread (or, in tests, directly). */
export interface JobIo {
  fetch: InputFetch;
  put: SstPut;
  buffers: SstOutputBuffers;
  stopped(): boolean;
}

/**
 * Merges a job's inputs (mergeInputs), reading them into `reads`' buffers (InputStore); every
 * buffer lent to the job is free again when this settles. Resolves whether the merge completed.
 */
export async function mergeJob(job: WorkerJob, io: JobIo, reads: InputReadBuffers): Promise<boolean> {
  const store = new InputStore(io.fetch, reads);
  const cache = new BlockCache({ maxBytes: 0 });
  const readaheadBytes = reads.bufferBytes;
  const sources: EntrySource[] = job.inputs.map((ssts) =>
    concatSources(ssts.map((handle) => async function* () {
      const objectKey = sstKey(handle.id);
      const reader = await SstReader.open({ store, objectKey, info: handle.info, cache });
      store.opened(objectKey, reader);
      yield* reader.scanChunks({}, { fillCache: false, readaheadBytes });
    })),
  );
  const noIds: SstIdSource = { nextSstId: Number.NaN };
  try {
    const { complete } = await mergeInputs(sources, job.settings, {
      filter: await filterOf(job.filter),
      store,
      ids: noIds,
      put: io.put,
      buffers: io.buffers,
      taken: (entry) => reads.taken(entry.key),
      stopped: io.stopped,
      elapsedMs: () => performance.now(),
    });
    return complete;
  } finally {
    reads.endJob();
  }
}

/** The worker's read buffers, kept from job to job (until the worker ends; an engine's jobs all read the same size). */
let inputReadBuffers: InputReadBuffers | undefined;

/** Read buffers of `readBytes`, at most COMPACTION_WORKER_READ_POOL_BYTES of them (at least one). */
function readBuffersOf(readBytes: number): InputReadBuffers {
  if (inputReadBuffers?.bufferBytes !== readBytes) {
    inputReadBuffers = new InputReadBuffers(readBytes, Math.max(1, Math.floor(COMPACTION_WORKER_READ_POOL_BYTES / readBytes)));
  }
  return inputReadBuffers;
}

function runJob(main: MainThread, job: WorkerJob): Promise<boolean> {
  main.spare = job.outputBuffer;
  const fetch: InputFetch = (key, range, into) => {
    const request: WorkerRequest = range === undefined ? { type: "read", key } : into === undefined ? { type: "read", key, range } : { type: "read", key, range, into };
    return main.request<Uint8Array>(request, into === undefined ? [] : transferable(into));
  };
  return mergeJob(
    job,
    {
      fetch,
      put: (bytes, info) => main.request<SstHandle>({ type: "store", bytes, info }, transferable(bytes)),
      buffers: new HandedBackBuffers(main),
      stopped: () => main.stopped,
    },
    readBuffersOf(job.readBytes),
  );
}

/** "done", with the output buffer the job ended with (transferred): the main thread keeps it for the next job. */
function done(port: NonNullable<typeof parentPort>, main: MainThread, complete: boolean): void {
  const spare = main.spare;
  main.spare = undefined;
  if (spare === undefined) port.postMessage({ type: "done", complete } satisfies FromWorker);
  else port.postMessage({ type: "done", complete, spare } satisfies FromWorker, transferable(spare));
}

/**
 * The buffer of an output (an SstBuilder's output is a prefix of the buffer it was built in, which
 * may start inside its ArrayBuffer), so that it moves instead of being copied; the rest goes along.
 */
function transferable(bytes: Uint8Array): ArrayBuffer[] {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer ? [buffer] : [];
}

function failureOf(error: unknown): WorkerFailure {
  if (error instanceof CorruptionError) return { code: error.code, key: error.key, message: error.message };
  if (isDurastreamError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}

/**
 * Lowers this thread's priority to `nice` (the main side passes COMPACTION_WORKER_NICE): on Linux
 * a thread's id is a pid to setpriority(2), and /proc/thread-self names it. Best effort: where
 * that is not possible the worker runs at the process's priority. Returns whether it was lowered.
 */
function lowerPriority(nice: unknown): boolean {
  if (typeof nice !== "number" || nice <= 0 || process.platform !== "linux") return false;
  try {
    const threadId = Number(path.basename(readlinkSync("/proc/thread-self")));
    if (!Number.isSafeInteger(threadId) || threadId <= 0) return false;
    setPriority(threadId, nice);
    return true;
  } catch {
    return false;
  }
}

if (parentPort !== null) {
  const port = parentPort;
  lowerPriority((workerData as { nice?: unknown } | undefined)?.nice);
  let main: MainThread | undefined;
  port.on("message", (message: ToWorker) => {
    switch (message.type) {
      case "job": {
        const current = new MainThread(port);
        main = current;
        runJob(current, message.job).then(
          (complete) => done(port, current, complete),
          (error: unknown) => port.postMessage({ type: "failed", failure: failureOf(error) } satisfies FromWorker),
        );
        return;
      }
      case "read":
        return main?.reply(message.id, message.bytes);
      case "stored":
        if (main !== undefined && message.spare !== undefined) main.spare = message.spare;
        return main?.reply(message.id, message.handle);
      case "stop":
        if (main !== undefined) main.stopped = true;
        return;
    }
  });
  port.postMessage({ type: "ready" } satisfies FromWorker);
}
