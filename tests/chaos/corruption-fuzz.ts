/**
 * A corruption fuzzer over every object kind (issue 16), shared by corruption-fuzz.test.ts and
 * scripts/soak.ts. A Log with 4 KiB SSTs writes streams (appends, a trim, a deleted stream, a
 * WAL tail not yet in any L0), then each case damages one object of the store at a seeded
 * place (WAL object, fence, SST, manifest: flipped bits, truncation, random bytes over a range,
 * a zeroed tail, another object's bytes, an empty object, a deleted SST or manifest) and opens
 * the damaged copy writable and read-only, reading every stream. Allowed outcomes:
 *   - every read returns exactly the undamaged content (the damaged object was not needed);
 *   - the open or a read fails with code "corruption" (or "closed", when a background task of a
 *     writable log found the damage first and failed the log: its cause is the corruption).
 * Anything else is a problem: wrong or missing data, another error code, a hang (each open and
 * read is bounded), or an unhandled rejection (the caller listens for those).
 *
 * Not fuzzed: deleting a WAL object at the end of the replay range (an id simply free, as if
 * never written: decision 0003's known limit).
 */
import { MemoryStore } from "../../src/store/memory-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { seededRandom, type Random } from "../../src/util/random.js";
import { openLog, type Log } from "../../src/index.js";

const STREAMS = ["alpha", "beta", "gamma"] as const;
const LOG_OPTIONS = Object.freeze({ flushIntervalMs: 0, l0SstBytes: 4096, maxSstBytes: 4096, gcIntervalMs: 0, gcGraceMs: 0 });
const OPEN_MS = 15_000;

export type Objects = Map<string, Uint8Array>;
/** Per stream: each record as "seqNum|timestamp|headers hex|body hex", or undefined when the stream does not exist. */
type Content = Map<string, string[] | undefined>;

export interface FuzzFixture {
  objects: Objects;
  expected: Content;
}

/** Writes the fixture store and returns every object and the content a correct read returns. */
export async function buildFuzzFixture(seed: number): Promise<FuzzFixture> {
  const random = seededRandom(seed);
  const store = new MemoryStore();
  let log = await openLog({ store, ...LOG_OPTIONS });
  const alpha = await log.openStream("alpha", { createIfMissing: true });
  const beta = await log.openStream("beta", { createIfMissing: true });
  const gamma = await log.openStream("gamma", { createIfMissing: true });
  const body = (i: number) => `${i}:${"z".repeat(20 + random.int(200))}`;
  for (let i = 0; i < 60; i++) {
    await Promise.all([
      alpha.append(Array.from({ length: 1 + random.int(4) }, (_, j) => ({ body: body(i * 10 + j), headers: [["h", String(i)]] as [string, string][] }))),
      beta.append([{ body: body(i) }]),
    ]);
  }
  await beta.trim(25);
  await gamma.append([{ body: "doomed" }]);
  await log.deleteStream("gamma");
  await log.close();
  // A second writer leaves a fence and a WAL tail that no L0 holds yet.
  log = await openLog({ store, ...LOG_OPTIONS, l0SstBytes: 1 << 20 });
  const again = await log.openStream("alpha");
  for (let i = 0; i < 5; i++) await again.append([{ body: `tail-${i}` }]);
  await log.close();
  const objects: Objects = new Map();
  for await (const entry of store.list("")) objects.set(entry.key, (await store.get(entry.key)).slice());
  const expected = await readAll(await openLog({ store, ...LOG_OPTIONS }));
  return { objects, expected };
}

async function readAll(log: Log): Promise<Content> {
  const content: Content = new Map();
  try {
    for (const name of STREAMS) {
      let stream;
      try {
        stream = await log.openStream(name);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "stream_not_found") throw error;
        content.set(name, undefined);
        continue;
      }
      const records: string[] = [];
      for await (const r of stream.read({ from: { seqNum: 0 }, clamp: true })) {
        records.push(`${r.seqNum}|${r.timestamp}|${r.headers.map(([n, v]) => `${Buffer.from(n).toString("hex")}=${Buffer.from(v).toString("hex")}`).join(",")}|${Buffer.from(r.body).toString("hex")}`);
      }
      content.set(name, records);
    }
    return content;
  } finally {
    await log.close();
  }
}

export interface Damage {
  name: string;
  apply: (objects: Objects) => void;
}

/** One seeded damage to one object of the fixture. */
export function randomDamage(objects: Objects, random: Random): Damage {
  const kinds = ["wal/", "sst/", "manifest/"];
  const prefix = kinds[random.int(kinds.length)]!;
  const keys = [...objects.keys()].filter((key) => key.startsWith(prefix));
  const key = keys[random.int(keys.length)]!;
  const bytes = objects.get(key)!;
  const at = (n: number) => (n <= 0 ? 0 : random.int(n));
  const roll = random.int(prefix === "wal/" ? 7 : 8);
  switch (roll) {
    case 0:
    case 1: {
      const positions = Array.from({ length: 1 + random.int(3) }, () => at(bytes.length));
      const bits = positions.map(() => 1 << random.int(8));
      return { name: `${key}: bits flipped at ${positions.join(",")}`, apply: (o) => o.set(key, flip(bytes, positions, bits)) };
    }
    case 2: {
      const length = at(bytes.length);
      return { name: `${key}: truncated to ${length} of ${bytes.length}`, apply: (o) => o.set(key, bytes.slice(0, length)) };
    }
    case 3: {
      const from = at(bytes.length);
      const length = 1 + random.int(Math.min(64, Math.max(1, bytes.length - from)));
      const noise = Uint8Array.from({ length }, () => random.int(256));
      return { name: `${key}: ${length} random bytes at ${from}`, apply: (o) => o.set(key, overwrite(bytes, from, noise)) };
    }
    case 4: {
      const from = at(bytes.length);
      return { name: `${key}: zeroed from ${from}`, apply: (o) => o.set(key, overwrite(bytes, from, new Uint8Array(bytes.length - from))) };
    }
    case 5: {
      const other = keys[random.int(keys.length)]!;
      return { name: `${key}: holds ${other}'s bytes`, apply: (o) => o.set(key, objects.get(other)!.slice()) };
    }
    case 6:
      return { name: `${key}: emptied`, apply: (o) => o.set(key, new Uint8Array(0)) };
    default:
      return { name: `${key}: deleted`, apply: (o) => o.delete(key) };
  }
}

function flip(bytes: Uint8Array, positions: number[], bits: number[]): Uint8Array {
  const out = bytes.slice();
  positions.forEach((p, i) => {
    if (p < out.length) out[p]! ^= bits[i]!;
  });
  return out;
}

function overwrite(bytes: Uint8Array, from: number, with_: Uint8Array): Uint8Array {
  const out = bytes.slice();
  out.set(with_.subarray(0, Math.max(0, out.length - from)), from);
  return out;
}

async function storeOf(objects: Objects): Promise<ObjectStore> {
  const store = new MemoryStore();
  for (const [key, bytes] of objects) await store.put(key, bytes.slice());
  return store;
}

async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a damaged copy writable and read-only; returns the problem, or undefined when the outcome is allowed. */
export async function checkDamage(fixture: FuzzFixture, damage: Damage): Promise<{ problem: string | undefined; outcome: "intact" | "corruption" }> {
  let outcome: "intact" | "corruption" = "intact";
  for (const readOnly of [false, true]) {
    const objects = new Map([...fixture.objects].map(([k, v]) => [k, v.slice()]));
    damage.apply(objects);
    const store = await storeOf(objects);
    const result = await bounded(
      (async () => readAll(await openLog({ store, ...LOG_OPTIONS, readOnly, ...(readOnly ? { pollIntervalMs: 60_000 } : {}) })))().then(
        (content) => ({ ok: true as const, content }),
        (error: unknown) => ({ ok: false as const, error }),
      ),
      OPEN_MS,
    );
    const mode = readOnly ? "read-only" : "writable";
    if (result === "timeout") return { problem: `${damage.name} (${mode}): open and read did not finish within ${OPEN_MS} ms (a hang)`, outcome };
    if (!result.ok) {
      const code = (result.error as { code?: unknown }).code;
      // A writable log's background task (a compaction at open) may find the damage before the
      // read does: the log then closes as failed, and the read's error carries the corruption.
      const causeCode = ((result.error as { cause?: { code?: unknown } }).cause ?? {}).code;
      if (code === "corruption" || (code === "closed" && causeCode === "corruption")) {
        outcome = "corruption";
        continue;
      }
      return { problem: `${damage.name} (${mode}): failed with ${String(code ?? "no code")}: ${(result.error as Error).message}`, outcome };
    }
    const diff = describeContentDiff(fixture.expected, result.content);
    if (diff !== undefined) return { problem: `${damage.name} (${mode}): WRONG DATA: ${diff}`, outcome };
  }
  return { problem: undefined, outcome };
}

function describeContentDiff(expected: Content, actual: Content): string | undefined {
  for (const [name, records] of expected) {
    const got = actual.get(name);
    if (records === undefined || got === undefined) {
      if (records !== got) return `${name}: expected ${records === undefined ? "no stream" : `${records.length} records`}, got ${got === undefined ? "no stream" : `${got.length} records`}`;
      continue;
    }
    if (records.length !== got.length) return `${name}: expected ${records.length} records, got ${got.length}`;
    const i = records.findIndex((r, k) => r !== got[k]);
    if (i >= 0) return `${name}: record ${i} differs: expected ${records[i]!.slice(0, 60)}, got ${got[i]!.slice(0, 60)}`;
  }
  return undefined;
}

/** Runs `cases` seeded damages; returns the problems and how the cases ended. */
export async function runCorruptionFuzz(seed: number, cases: number, fixture?: FuzzFixture): Promise<{ problems: string[]; stats: Record<string, number> }> {
  const fx = fixture ?? (await buildFuzzFixture(seed));
  const random = seededRandom(seed + 7);
  const problems: string[] = [];
  const stats: Record<string, number> = { cases: 0, intact: 0, corruption: 0 };
  for (let i = 0; i < cases; i++) {
    const damage = randomDamage(fx.objects, random);
    const { problem, outcome } = await checkDamage(fx, damage);
    stats.cases!++;
    stats[outcome]!++;
    const kind = damage.name.slice(0, damage.name.indexOf("/"));
    stats[`${kind}Cases`] = (stats[`${kind}Cases`] ?? 0) + 1;
    if (problem !== undefined) problems.push(`case ${i}: ${problem}`);
  }
  return { problems, stats };
}
