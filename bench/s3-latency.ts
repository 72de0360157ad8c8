/**
 * Round-trip latency of each S3Store operation against the S3 server in the environment
 * (S3_ENDPOINT and AWS_* as printed by `bash scripts/s3-test-server.sh start`).
 *
 * Every call is awaited before the next one starts (no concurrency), so the figures are the
 * latency one request costs the engine: a WAL flush is one create-only PUT, an SST block read one
 * ranged GET. The bench makes its own bucket and removes it at the end.
 *
 *   eval "$(bash scripts/s3-test-server.sh start)"
 *   npx tsx bench/s3-latency.ts [--iterations 200]
 */
import { randomBytes } from "node:crypto";
import { availableParallelism, cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { DeleteBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { ensureBucket, S3Store, type S3StoreOptions } from "../src/store/s3-store.js";

const WARMUP_ITERATIONS = 20;
const SMALL_OBJECT_BYTES = 1024;
const RANGED_OBJECT_BYTES = 1024 * 1024;
const RANGE_BYTES = 4096;
const LISTED_KEYS = 100;

interface Operation {
  name: string;
  run: (i: number) => Promise<unknown>;
}

async function main(): Promise<void> {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint === undefined || endpoint === "") {
    throw new Error('S3_ENDPOINT is not set: run eval "$(bash scripts/s3-test-server.sh start)" first');
  }
  const iterations = parseIterations(process.argv.slice(2));
  const bucket = `durastream-bench-${Date.now().toString(36)}`;
  const options: S3StoreOptions = {
    bucket,
    endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE !== "false",
  };
  await ensureBucket(options);
  const store = new S3Store(options);
  try {
    const operations = await prepare(store);
    const rows = [];
    for (const operation of operations) rows.push({ name: operation.name, ...(await measure(operation, iterations)) });
    printReport(endpoint, iterations, rows);
  } finally {
    await removeAll(store);
    await store.close();
    const client = new S3Client({ endpoint, region: options.region, forcePathStyle: options.forcePathStyle });
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    client.destroy();
  }
}

/** Writes the objects the reads need and returns the operations to time. */
async function prepare(store: S3Store): Promise<Operation[]> {
  const small = randomBytes(SMALL_OBJECT_BYTES);
  await store.put("read/small", small);
  await store.put("read/large", randomBytes(RANGED_OBJECT_BYTES));
  for (let i = 0; i < LISTED_KEYS; i++) await store.put(`list/${String(i).padStart(4, "0")}`, small.subarray(0, 16));
  let { etag } = await store.put("cas/k", small);
  const maxOffset = RANGED_OBJECT_BYTES - RANGE_BYTES;
  return [
    { name: "PUT 1 KiB (overwrite)", run: () => store.put("put/k", small) },
    { name: "PUT 1 KiB create-only (new key)", run: (i) => store.put(`create/${i}`, small, { ifNoneMatch: "*" }) },
    {
      name: "PUT 1 KiB if-match (CAS)",
      run: async () => {
        etag = (await store.put("cas/k", small, { ifMatch: etag })).etag;
      },
    },
    { name: "GET 1 KiB", run: () => store.get("read/small") },
    { name: `GET range ${RANGE_BYTES / 1024} KiB of 1 MiB`, run: (i) => store.get("read/large", { offset: (i * 7919 * 16) % maxOffset, length: RANGE_BYTES }) },
    { name: "HEAD", run: () => store.head("read/small") },
    { name: `LIST ${LISTED_KEYS} keys (1 page)`, run: () => drain(store.list("list/")) },
  ];
}

async function measure(operation: Operation, iterations: number): Promise<{ medianMs: number; p90Ms: number; p99Ms: number; maxMs: number }> {
  for (let i = 0; i < WARMUP_ITERATIONS; i++) await operation.run(iterations + i); // keys unused by the timed calls
  const samplesMs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = performance.now();
    await operation.run(i);
    samplesMs.push(performance.now() - started);
  }
  samplesMs.sort((a, b) => a - b);
  const at = (q: number) => samplesMs[Math.min(samplesMs.length - 1, Math.ceil(q * samplesMs.length) - 1)] ?? NaN;
  return { medianMs: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1) };
}

function printReport(endpoint: string, iterations: number, rows: { name: string; medianMs: number; p90Ms: number; p99Ms: number; maxMs: number }[]): void {
  const cpu = cpus()[0]?.model ?? "unknown cpu";
  console.log(`S3Store round-trip latency against ${endpoint}, ${iterations} sequential calls each after ${WARMUP_ITERATIONS} warm-up calls`);
  console.log(`machine: ${availableParallelism()} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}`);
  console.log("");
  console.log("| operation | median ms | p90 ms | p99 ms | max ms |");
  console.log("|---|---:|---:|---:|---:|");
  for (const row of rows) {
    const cells = [row.medianMs, row.p90Ms, row.p99Ms, row.maxMs].map((ms) => ms.toFixed(2));
    console.log(`| ${row.name} | ${cells.join(" | ")} |`);
  }
}

function parseIterations(args: string[]): number {
  const index = args.indexOf("--iterations");
  const value = index === -1 ? 200 : Number(args[index + 1]);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`--iterations must be a positive integer, got ${args[index + 1]}`);
  return value;
}

async function drain(entries: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _entry of entries) count++;
  return count;
}

/** Deletes what the bench wrote, so that the bucket can be removed. */
async function removeAll(store: S3Store): Promise<void> {
  const keys: string[] = [];
  for await (const entry of store.list("")) keys.push(entry.key);
  for (const key of keys) await store.delete(key);
}

await main();
