/**
 * LocalStore put latency on this disk: 500 sequential 1 KiB puts of each kind, one at a time,
 * each timed from call to resolve. Create-only is the engine's WAL and manifest commit (two
 * fsyncs: temp file, then directory); plain and ifMatch puts also take the per-key lock
 * (docs/decisions/0001-local-store.md). Figures go to bench/README.md with this command:
 *
 *   npx tsx bench/local-put-latency.ts [count] [dir]
 *
 * `dir` defaults to os.tmpdir(); the store lives in a fresh directory under it, removed at the end.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { LocalStore } from "../src/store/local-store.js";

const count = Number(process.argv[2] ?? 500);
const parent = process.argv[3] ?? os.tmpdir();
const body = new Uint8Array(1024).fill(7);

function quantile(sortedMs: number[], q: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor(q * sortedMs.length))] ?? Number.NaN;
}

async function timed(label: string, put: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 20; i++) await put(-1 - i); // warm-up: directories, lock dir, JIT
  const latenciesMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const startMs = performance.now();
    await put(i);
    latenciesMs.push(performance.now() - startMs);
  }
  latenciesMs.sort((a, b) => a - b);
  const meanMs = latenciesMs.reduce((sum, ms) => sum + ms, 0) / latenciesMs.length;
  const fmt = (ms: number) => ms.toFixed(3).padStart(7);
  console.log(
    `${label.padEnd(22)} n=${count}  p50 ${fmt(quantile(latenciesMs, 0.5))} ms  p90 ${fmt(quantile(latenciesMs, 0.9))} ms` +
      `  p99 ${fmt(quantile(latenciesMs, 0.99))} ms  mean ${fmt(meanMs)} ms`,
  );
}

const root = await mkdtemp(path.join(parent, "durastream-put-latency-"));
try {
  const store = new LocalStore(root);
  await store.whenSwept();
  console.log(`LocalStore on ${root}, 1 KiB bodies, sequential puts`);
  await timed("create-only (ifNoneMatch)", (i) => store.put(`wal/${String(i + 100).padStart(20, "0")}`, body, { ifNoneMatch: "*" }));
  await timed("plain put, new keys", (i) => store.put(`sst/${String(i + 100).padStart(20, "0")}`, body));
  let { etag } = await store.put("cas/counter", body);
  await timed("ifMatch on one key", async () => {
    ({ etag } = await store.put("cas/counter", body, { ifMatch: etag }));
  });
} finally {
  await rm(root, { recursive: true, force: true });
}
