/**
 * The entry of a compaction worker thread (0009): it decodes the input SSTs, merges them and
 * builds the output SSTs, off the engine's thread. It owns no store and decides nothing: every
 * byte it reads is fetched by the main thread (ToWorker "read"), every output goes back to the
 * main thread to be named and PUT (FromWorker "store"), and the main thread alone changes the
 * manifest. One job at a time; the protocol's types are below, the main side is compaction-offload.ts.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import path from "node:path";
import { CorruptionError, isDurastreamError } from "../errors.js";
import { concatSources, type EntrySource } from "./read-path.js";
import { BlockCache } from "./block-cache.js";
import { SstReader } from "./sst-reader.js";
import { sstKey } from "./paths.js";
import { mergeInputs, type MergeSettings } from "./compaction-merge.js";
import type { EntryFilterOptions, SstOutputBuffers } from "./compaction-output.js";
import type { SstHandle } from "./manifest-format.js";
import type { ByteRange, ListEntry, ObjectInfo, ObjectStore, PutResult } from "../store/object-store.js";
import type { SstIdSource } from "./sst-ids.js";

export interface WorkerJob {
  settings: MergeSettings;
  /** Newest first; each element is one source (an L0, or a run's SSTs in key order). */
  inputs: SstHandle[][];
  /** The filter to rebuild (WorkerFilterSpec's module and snapshot); none: keep every live entry. */
  filter?: { moduleUrl: string; data: unknown };
  /**
   * A buffer for the first output (transferred with the job): on a LocalStore one that its puts
   * write around the page cache (store/direct-write.ts); it then goes back and forth as the spare.
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

/** What the worker asks of the main thread: bytes of an input, or to store an output. */
export type WorkerRequest = { type: "read"; key: string; range?: ByteRange } | { type: "store"; bytes: Uint8Array; info: SstHandle["info"] };

export type FromWorker =
  | (WorkerRequest & { id: number })
  | { type: "ready" }
  | { type: "done"; complete: boolean }
  | { type: "failed"; failure: WorkerFailure };

/** A reply the main thread gave without bytes or handle: it failed or stopped the job there (it keeps the cause). */
class RequestRefused extends Error {}

/** Requests to the main thread, matched to their replies by id. */
class MainThread {
  #nextId = 0;
  /** An output's buffer the main thread handed back once its PUT resolved (HandedBackBuffers). */
  spare: Uint8Array | undefined;
  readonly #pending = new Map<number, { resolve: (value: Uint8Array | SstHandle) => void; reject: (error: Error) => void }>();
  stopped = false;

  constructor(private readonly port: NonNullable<typeof parentPort>) {}

  request<T extends Uint8Array | SstHandle>(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.#nextId++;
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

/** The store the worker's SstReaders read through: each GET is made by the main thread. */
class MainThreadStore implements ObjectStore {
  readonly description = "the main thread's store (compaction worker)";
  constructor(private readonly main: MainThread) {}
  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.main.request<Uint8Array>(range === undefined ? { type: "read", key } : { type: "read", key, range });
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

const filterModules = new Map<string, Promise<{ createWorkerFilter: (data: unknown) => EntryFilterOptions }>>();

async function filterOf(spec: WorkerJob["filter"]): Promise<EntryFilterOptions> {
  if (spec === undefined) return { compactionFilter: undefined, isWriteOnceKey: undefined };
  let module = filterModules.get(spec.moduleUrl);
  if (module === undefined) {
    module = import(spec.moduleUrl) as Promise<{ createWorkerFilter: (data: unknown) => EntryFilterOptions }>;
    filterModules.set(spec.moduleUrl, module);
  }
  return (await module).createWorkerFilter(spec.data);
}

async function runJob(main: MainThread, job: WorkerJob): Promise<boolean> {
  main.spare = job.outputBuffer;
  const store = new MainThreadStore(main);
  const cache = new BlockCache({ maxBytes: 0 });
  const sources: EntrySource[] = job.inputs.map((ssts) =>
    concatSources(ssts.map((handle) => async function* () {
      const reader = await SstReader.open({ store, objectKey: sstKey(handle.id), info: handle.info, cache });
      yield* reader.scanChunks({}, { fillCache: false });
    })),
  );
  const noIds: SstIdSource = { nextSstId: Number.NaN };
  const { complete } = await mergeInputs(sources, job.settings, {
    filter: await filterOf(job.filter),
    store,
    ids: noIds,
    put: (bytes, info) => main.request<SstHandle>({ type: "store", bytes, info }, transferable(bytes)),
    buffers: new HandedBackBuffers(main),
    stopped: () => main.stopped,
    elapsedMs: () => performance.now(),
  });
  return complete;
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
          (complete) => port.postMessage({ type: "done", complete } satisfies FromWorker),
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
