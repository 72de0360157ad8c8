/**
 * A zombie writer slowed at one step while another writer takes over (issue 16): shared by
 * zombie-writer.test.ts and scripts/soak.ts.
 *
 * The first writer (w1) runs on a SlowStore that holds one chosen call: "before" (the request
 * is slow to arrive: a GC pause, a slow network) or "after" (the write lands, the answer is
 * late). The steps: WAL PUT, SST PUT, manifest PUT, LIST, GC DELETE. While the
 * call is held, w2 opens on the same store (fencing w1), writes, flushes, compacts and collects.
 * Then the call goes on, w1 keeps writing until it stops, and w2 works once more. Finally:
 *   - every batch either writer acknowledged is in the store, whole;
 *   - every batch in the store was written by someone, and is whole (all or none of its keys);
 *   - w1 ends fenced (or closed), never acknowledging a write after it stopped being the writer
 *     in a way that loses it;
 *   - nothing hangs: every wait is bounded.
 */
import { Engine, type EngineOptions } from "../../src/engine/engine.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";

export type ZombieStep = "wal-put" | "sst-put" | "manifest-put" | "list" | "gc-delete";
export type ZombieMode = "before" | "after";
export const ZOMBIE_STEPS: readonly ZombieStep[] = ["wal-put", "sst-put", "manifest-put", "list", "gc-delete"];

interface Call {
  kind: "get" | "head" | "put" | "delete" | "list";
  key: string;
}

const STEP_MATCH: Record<ZombieStep, (call: Call) => boolean> = {
  "wal-put": (c) => c.kind === "put" && c.key.startsWith("wal/"),
  "sst-put": (c) => c.kind === "put" && c.key.startsWith("sst/"),
  "manifest-put": (c) => c.kind === "put" && c.key.startsWith("manifest/"),
  list: (c) => c.kind === "list",
  "gc-delete": (c) => c.kind === "delete",
};

/** Holds the first call a rule matches, before or after the inner store runs it, until released. */
export class SlowStore implements ObjectStore {
  readonly description: string;
  #rule: { match: (call: Call) => boolean; mode: ZombieMode; reached: () => void; released: Promise<void> } | undefined;

  constructor(readonly inner: ObjectStore) {
    this.description = `slow(${inner.description ?? "store"})`;
  }

  /** Holds the next matching call; returns when it is reached and how to release it. */
  hold(match: (call: Call) => boolean, mode: ZombieMode): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#rule = { match, mode, reached, released };
    return { reached: reachedPromise, release };
  }

  /** The held rule's hold, if this call is the one; the rule fires once. */
  #take(call: Call): { mode: ZombieMode; released: Promise<void> } | undefined {
    const rule = this.#rule;
    if (rule === undefined || !rule.match(call)) return undefined;
    this.#rule = undefined;
    rule.reached();
    return rule;
  }

  async #run<T>(call: Call, run: () => Promise<T>): Promise<T> {
    const held = this.#take(call);
    if (held === undefined) return run();
    if (held.mode === "before") {
      await held.released;
      return run();
    }
    const settled = await run().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    await held.released;
    if (!settled.ok) throw settled.error;
    return settled.value;
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#run({ kind: "get", key }, () => (range === undefined ? this.inner.get(key) : this.inner.get(key, range)));
  }
  head(key: string): Promise<ObjectInfo> {
    return this.#run({ kind: "head", key }, () => this.inner.head(key));
  }
  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    return this.#run({ kind: "put", key }, () => (condition === undefined ? this.inner.put(key, body) : this.inner.put(key, body, condition)));
  }
  delete(key: string): Promise<void> {
    return this.#run({ kind: "delete", key }, () => this.inner.delete(key));
  }
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    const self = this;
    return (async function* () {
      const entries = await self.#run({ kind: "list", key: prefix }, async () => {
        const all: ListEntry[] = [];
        for await (const entry of self.inner.list(prefix, options)) all.push(entry);
        return all;
      });
      yield* entries;
    })();
  }
}

/** Small sizes: a few batches make an L0, two L0s a compaction; GC at once. */
export const ZOMBIE_ENGINE_OPTIONS: EngineOptions = Object.freeze({
  flushIntervalMs: 0,
  l0SstBytes: 2048,
  sstBlockBytes: 256,
  maxSstBytes: 4096,
  l0CompactionTrigger: 2,
  gcIntervalMs: 0,
  gcGraceMs: 0,
  manifestsKept: 1,
  storeRetryDeadlineMs: 3_000,
});

const WAIT_MS = 15_000;
const BATCH_KEYS = 3;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with the promise's value, or "timeout" after `ms`. */
async function bounded<T>(promise: Promise<T>, ms = WAIT_MS): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Written {
  writer: string;
  index: number;
  outcome: "pending" | "acked" | string;
}

const keyOf = (writer: string, index: number, j: number) => `${writer}/${String(index).padStart(5, "0")}/${j}`;
const valueOf = (writer: string, index: number, j: number) => `${writer}:${index}:${j}:${"v".repeat(150)}`;

function writeBatch(engine: Engine, writer: string, index: number, log: Written[]): Promise<void> {
  const written: Written = { writer, index, outcome: "pending" };
  log.push(written);
  const ops = Array.from({ length: BATCH_KEYS }, (_, j) => ({ type: "put" as const, key: Buffer.from(keyOf(writer, index, j)), value: Buffer.from(valueOf(writer, index, j)) }));
  let seq: number;
  try {
    seq = engine.write(ops);
  } catch (error) {
    written.outcome = String((error as { code?: unknown }).code ?? error);
    return Promise.resolve();
  }
  return engine.whenDurable(seq).then(
    () => {
      written.outcome = "acked";
    },
    (error: unknown) => {
      written.outcome = String((error as { code?: unknown }).code ?? error);
    },
  );
}

/** Runs one zombie case on `store` (empty); returns the problems found (empty when all is well). */
export async function runZombieCase(store: ObjectStore, step: ZombieStep, mode: ZombieMode): Promise<{ problems: string[]; w1Outcomes: Record<string, number> }> {
  const problems: string[] = [];
  const writes: Written[] = [];
  const slow = new SlowStore(store);
  const w1 = await Engine.open(slow, ZOMBIE_ENGINE_OPTIONS);
  let w2: Engine | undefined;
  const w1Pending: Promise<void>[] = [];
  try {
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeBatch(w1, "w1", i, writes)));
    await bounded(Promise.all([w1.flusher.idle(), w1.compactor.idle(), w1.gc.idle()]));
    const gate = slow.hold(STEP_MATCH[step], mode);
    // Keep w1 busy until it reaches the step (writes make WAL PUTs, L0 flushes, compactions, GC).
    let next = 20;
    let reached = false;
    void gate.reached.then(() => (reached = true));
    for (let tries = 0; !reached && tries < 400; tries++) {
      w1Pending.push(writeBatch(w1, "w1", next++, writes));
      if (step === "gc-delete" || step === "list") void w1.gc.runOnce().catch(() => {});
      await sleep(2);
    }
    if (!reached) return { problems: [`${step}/${mode}: the zombie never reached the step (the test did not stage its race)`], w1Outcomes: {} };
    // w2 takes over and works while w1's call is held.
    w2 = await Engine.open(store, ZOMBIE_ENGINE_OPTIONS);
    await Promise.all(Array.from({ length: 30 }, (_, i) => writeBatch(w2!, "w2", i, writes)));
    const idle = await bounded(Promise.all([w2.flusher.idle(), w2.compactor.idle()]).then(() => w2!.gc.runOnce()));
    if (idle === "timeout") problems.push(`${step}/${mode}: the new writer's flush, compaction or GC hung while the zombie was held`);
    gate.release();
    // The zombie goes on until it stops; every write it started must settle.
    for (let i = 0; i < 10; i++) {
      w1Pending.push(writeBatch(w1, "w1", next++, writes));
      await sleep(2);
    }
    if ((await bounded(Promise.all(w1Pending))) === "timeout") problems.push(`${step}/${mode}: the zombie's writes did not settle within ${WAIT_MS} ms after the release (a hang)`);
    const late = await bounded(writeBatch(w1, "w1", next++, writes).then(() => writes.at(-1)!.outcome));
    if (late === "acked") {
      // Possible only if the zombie never learnt of w2: then its write must still be durable (checked below).
    } else if (late !== "fenced" && late !== "closed") {
      problems.push(`${step}/${mode}: the zombie's write after the takeover ended ${late}, expected fenced or closed`);
    }
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeBatch(w2!, "w2", 30 + i, writes)));
    await bounded(Promise.all([w2.flusher.idle(), w2.compactor.idle()]).then(() => w2!.gc.runOnce()));
  } finally {
    await bounded(w1.close().catch(() => {}));
    if (w2 !== undefined) await bounded(w2.close().catch(() => {}));
  }
  problems.push(...(await checkFinal(store, writes, `${step}/${mode}`)));
  const w1Outcomes: Record<string, number> = {};
  for (const w of writes) if (w.writer === "w1") w1Outcomes[w.outcome] = (w1Outcomes[w.outcome] ?? 0) + 1;
  return { problems, w1Outcomes };
}

async function checkFinal(store: ObjectStore, writes: Written[], context: string): Promise<string[]> {
  const problems: string[] = [];
  const engine = await Engine.open(store, ZOMBIE_ENGINE_OPTIONS);
  const found = new Map<string, string>();
  try {
    for await (const entry of engine.scan({})) found.set(Buffer.from(entry.key).toString(), Buffer.from(entry.value).toString());
  } finally {
    await engine.close();
  }
  const written = new Map(writes.map((w) => [`${w.writer}/${String(w.index).padStart(5, "0")}`, w]));
  const perBatch = new Map<string, number>();
  for (const [key, value] of found) {
    const batch = key.slice(0, key.lastIndexOf("/"));
    const w = written.get(batch);
    if (w === undefined) {
      problems.push(`${context}: ${key} is in the store, but no batch wrote it`);
      continue;
    }
    const j = Number(key.slice(key.lastIndexOf("/") + 1));
    if (value !== valueOf(w.writer, w.index, j)) problems.push(`${context}: ${key} holds a wrong value`);
    perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
  }
  for (const [batch, w] of written) {
    const count = perBatch.get(batch) ?? 0;
    if (count !== 0 && count !== BATCH_KEYS) problems.push(`${context}: batch ${batch} is partly in the store (${count} of ${BATCH_KEYS} keys)`);
    if (w.outcome === "acked" && count === 0) problems.push(`${context}: ACKNOWLEDGED batch ${batch} is lost`);
    if (w.outcome === "pending") problems.push(`${context}: batch ${batch} never settled`);
  }
  return problems;
}
