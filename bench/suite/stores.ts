/**
 * The stores durastream runs on in the suite, each with the flush interval it is measured at:
 *
 *   local      LocalStore in a fresh directory under the OS temp dir (an ack means fsync'd:
 *              temp file, link, directory)
 *   memory     MemoryStore (no durability at all: the in-process reference)
 *   s3std      MemoryStore behind FaultyStore with S3_STANDARD_LATENCY (PUT median 50 ms, p99 200 ms)
 *   s3express  MemoryStore behind FaultyStore with S3_EXPRESS_LATENCY (PUT median 8 ms, p99 25 ms)
 *
 * FaultyStore draws each call's latency from a log-normal model and waits it out on the
 * system clock before the inner store runs the call, so the engine sees S3's timing (and its
 * tail) without a network. It works inside one process only; readers in other processes use
 * FaultyStore around a shared LocalStore (bench/suite/readers.ts).
 */
import path from "node:path";
import { FaultyStore, LocalStore, MemoryStore, S3_EXPRESS_LATENCY, S3_STANDARD_LATENCY, type LatencyModel, type ObjectStore } from "../../src/index.js";
import { withTempDir } from "../raw-fsync.js";

export type DsStoreKind = "local" | "memory" | "s3std" | "s3express";

export const STORE_TITLES: Record<DsStoreKind, string> = {
  local: "LocalStore",
  memory: "MemoryStore",
  s3std: "simulated S3 Standard",
  s3express: "simulated S3 Express",
};

/** The latency model of a simulated-S3 store kind. */
export function latencyModel(kind: DsStoreKind): LatencyModel | undefined {
  if (kind === "s3std") return S3_STANDARD_LATENCY;
  if (kind === "s3express") return S3_EXPRESS_LATENCY;
  return undefined;
}

/** The model's median PUT latency ("one PUT latency" of the target), in ms. */
export function putMedianMs(kind: DsStoreKind): number {
  const put = latencyModel(kind)?.put;
  if (put === undefined) return Number.NaN;
  return "fixedMs" in put ? put.fixedMs : put.medianMs;
}

/**
 * Runs `fn` with a fresh store of `kind`. `reopen()` gives a store on the same data (a new
 * LocalStore on the same directory; the same object for the in-memory kinds), for a reopen.
 */
export async function withDsStore<T>(kind: DsStoreKind, fn: (store: ObjectStore, reopen: () => ObjectStore) => Promise<T>): Promise<T> {
  const model = latencyModel(kind);
  if (kind === "memory" || model !== undefined) {
    const memory = new MemoryStore();
    const store = model === undefined ? memory : new FaultyStore(memory, { latency: model });
    return fn(store, () => store);
  }
  return withTempDir(async (dir) => {
    const root = path.join(dir, "store");
    const opened: LocalStore[] = [];
    const open = () => {
      const store = new LocalStore(root);
      opened.push(store);
      return store;
    };
    try {
      return await fn(open(), open);
    } finally {
      for (const store of opened) await store.close();
    }
  });
}
