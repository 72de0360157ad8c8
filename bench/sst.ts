/**
 * SST build and full-scan throughput on MemoryStore: how fast a memtable flush or compaction
 * can encode, and how fast a catch-up read can decode, with the store itself out of the way.
 *
 *   npx tsx bench/sst.ts [entries=200000]
 *
 * Entries look like stream records: 17-byte keys (`05 streamId(u64) seq(u64)`), one version
 * each, values of 100 B and of 1 KiB. MiB/s counts SST bytes (what the store moves); records/s
 * counts entries. Each figure is the median of 5 runs after one warm-up. Wall time is what a
 * caller waits; CPU time (user + system of the whole process, GC threads included) is the
 * figure to compare when the machine is shared with other work. Scans run after the input
 * entries are released, so that their GC does not pay for the builder's input.
 */
import { performance } from "node:perf_hooks";
import { BlockCache } from "../src/engine/block-cache.js";
import type { Entry } from "../src/engine/entry.js";
import { SstBuilder, type SstInfo } from "../src/engine/sst-format.js";
import { SstReader, type SstScanOptions } from "../src/engine/sst-reader.js";
import { MemoryStore } from "../src/store/memory-store.js";

const MIB = 1024 * 1024;
const RUNS = 5;

interface Timing {
  wallMs: number;
  cpuMs: number;
}

function makeEntries(count: number, valueBytes: number): Entry[] {
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const key = Buffer.alloc(17);
    key[0] = 5;
    key.writeBigUInt64BE(1n, 1);
    key.writeBigUInt64BE(BigInt(i), 9);
    entries.push({ key: new Uint8Array(key), seq: i + 1, value: new Uint8Array(valueBytes).fill(i & 0xff), expireAtMs: 0 });
  }
  return entries;
}

/** Median wall and CPU time of RUNS runs of `fn`, after one warm-up run. */
async function time(fn: () => Promise<void> | void): Promise<Timing> {
  const runs: Timing[] = [];
  for (let run = 0; run <= RUNS; run++) {
    const cpuStarted = process.cpuUsage();
    const started = performance.now();
    await fn();
    const wallMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuStarted);
    if (run > 0) runs.push({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  return { wallMs: median(runs.map((run) => run.wallMs)), cpuMs: median(runs.map((run) => run.cpuMs)) };
}

function build(entries: readonly Entry[]): { bytes: Uint8Array; info: SstInfo } {
  const builder = new SstBuilder();
  for (const entry of entries) builder.add(entry);
  return builder.finish();
}

/** A full scan through a fresh reader and a cold cache, entry by entry or chunk by chunk. */
async function scan(store: MemoryStore, info: SstInfo, count: number, options: SstScanOptions, chunks = false): Promise<void> {
  const reader = await SstReader.open({ store, objectKey: "sst/1", info, cache: new BlockCache({ maxBytes: 64 * MIB }) });
  let seen = 0;
  if (chunks) {
    for await (const chunk of reader.scanChunks({}, options)) for (const entry of chunk) seen += entry.value === null ? 0 : 1;
  } else {
    for await (const entry of reader.entries(options)) seen += entry.value === null ? 0 : 1;
  }
  if (seen !== count) throw new Error(`scanned ${seen} of ${count} entries`);
}

async function measure(count: number, valueBytes: number): Promise<string[]> {
  let entries: Entry[] | undefined = makeEntries(count, valueBytes);
  const input = entries;
  const buildTime = await time(() => void build(input));
  const { bytes, info } = build(input);
  entries = undefined;

  const store = new MemoryStore();
  await store.put("sst/1", bytes);
  let gets = 0;
  const get = store.get.bind(store);
  store.get = (key, range) => {
    gets++;
    return get(key, range);
  };
  const filling = await time(() => scan(store, info, count, {}));
  const getsPerScan = gets / (RUNS + 1);
  const notFilling = await time(() => scan(store, info, count, { fillCache: false }));
  const chunked = await time(() => scan(store, info, count, { fillCache: false }, true));

  const sizeMib = bytes.length / MIB;
  const rate = (ms: number): string => `${(sizeMib / (ms / 1000)).toFixed(0)} MiB/s, ${Math.round(count / (ms / 1000)).toLocaleString("en-US")} rec/s`;
  const row = (label: string, t: Timing): string =>
    `| ${label} | ${valueBytes} B | ${sizeMib.toFixed(1)} | ${t.wallMs.toFixed(0)} | ${rate(t.wallMs)} | ${t.cpuMs.toFixed(0)} | ${rate(t.cpuMs)} |`;
  return [
    row("build", buildTime),
    row(`full scan, cold 64 MiB cache (${getsPerScan - 1} GETs + index)`, filling),
    row("full scan, cold, fillCache: false", notFilling),
    row("full scan, cold, fillCache: false, scanChunks", chunked),
  ];
}

const count = Number(process.argv[2] ?? 200_000);
console.log(`node ${process.version}, ${count} entries, median of ${RUNS} runs\n`);
console.log("| operation | value | SST MiB | wall ms | by wall time | CPU ms | by CPU time |");
console.log("|---|---|---|---|---|---|---|");
for (const valueBytes of [100, 1024]) for (const line of await measure(count, valueBytes)) console.log(line);
