/**
 * Test helpers for the read-only log tests (tests/readers/*.test.ts and their fixtures).
 *
 *   CountingStore   an ObjectStore wrapper that counts calls by kind and key prefix, records
 *                   every mutating call (a read-only log must make none) and the GETs that found
 *                   nothing (evidence that a reader raced the writer's garbage collector)
 *   snapshotStore   every key of a store with a checksum of its bytes, to compare before/after
 *   snapshotDir     the same for a LocalStore root as the file system sees it (temp files too)
 *   collectUntil    drains a read session into an array
 */
import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";
import { recordText, type ReadRecord } from "../../src/index.js";

/** The first path segment of an object key ("wal", "sst", "manifest"), or "" for a flat key. */
export function prefixOf(key: string): string {
  const slash = key.indexOf("/");
  return slash < 0 ? "" : key.slice(0, slash);
}

export interface CallCounts {
  get: number;
  head: number;
  put: number;
  delete: number;
  list: number;
}

function zeroCounts(): CallCounts {
  return { get: 0, head: 0, put: 0, delete: 0, list: 0 };
}

export class CountingStore implements ObjectStore {
  readonly description: string;
  readonly #inner: ObjectStore;
  /** Every call, by kind. */
  readonly counts: CallCounts = zeroCounts();
  /** Calls by key prefix ("wal", "sst", "manifest"). */
  readonly byPrefix = new Map<string, CallCounts>();
  /** GETs and HEADs that found no object, by key prefix. */
  readonly notFound = new Map<string, number>();
  /** Every put and delete, in order: "put <key>" / "delete <key>". */
  readonly mutations: string[] = [];

  readonly localRoot: string | undefined;

  constructor(inner: ObjectStore) {
    this.localRoot = inner.localRoot;
    this.#inner = inner;
    this.description = `counting(${inner.description ?? "store"})`;
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.#count("get", key);
    return this.#watchNotFound(key, this.#inner.get(key, range));
  }

  async head(key: string): Promise<ObjectInfo> {
    this.#count("head", key);
    return this.#watchNotFound(key, this.#inner.head(key));
  }

  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    this.#count("put", key);
    this.mutations.push(`put ${key}`);
    return this.#inner.put(key, body, condition);
  }

  delete(key: string): Promise<void> {
    this.#count("delete", key);
    this.mutations.push(`delete ${key}`);
    return this.#inner.delete(key);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    this.#count("list", prefix);
    return this.#inner.list(prefix, options);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  /** Counts of one prefix (zeros when it was never used). */
  prefix(name: string): CallCounts {
    return this.byPrefix.get(name) ?? zeroCounts();
  }

  #count(kind: keyof CallCounts, key: string): void {
    this.counts[kind]++;
    const name = prefixOf(key);
    let counts = this.byPrefix.get(name);
    if (counts === undefined) this.byPrefix.set(name, (counts = zeroCounts()));
    counts[kind]++;
  }

  async #watchNotFound<T>(key: string, promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if ((error as { code?: unknown }).code === "not_found") {
        const name = prefixOf(key);
        this.notFound.set(name, (this.notFound.get(name) ?? 0) + 1);
      }
      throw error;
    }
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Every key of `store` with its size and the SHA-256 of its bytes, in key order. */
export async function snapshotStore(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const entry of store.list("")) {
    const bytes = await store.get(entry.key);
    out.set(entry.key, `${bytes.length}:${sha256(bytes)}`);
  }
  return out;
}

/**
 * Every file and directory under `root` as the file system sees it (so a temp file or a new
 * directory a LocalStore left behind counts too), with size and SHA-256 for files.
 */
export async function snapshotDir(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      const relative = path.relative(root, full);
      if (entry.isDirectory()) {
        out.set(`${relative}/`, "dir");
        await walk(full);
      } else {
        const bytes = await readFile(full);
        out.set(relative, `${(await stat(full)).size}:${sha256(bytes)}`);
      }
    }
  };
  await walk(root);
  return out;
}

/** Drains a read session (which must end by itself) into an array. */
export async function collect(session: AsyncIterable<ReadRecord>): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for await (const record of session) out.push(record);
  return out;
}

/** "seqNum:body" for each record, the form most assertions compare. */
export function seqTexts(records: readonly ReadRecord[]): string[] {
  return records.map((record) => `${record.seqNum}:${recordText(record)}`);
}
