import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as limits from "../src/limits.js";

describe("limits", () => {
  it("has S2's user-facing values", () => {
    assert.equal(limits.MAX_APPEND_RECORDS, 1000);
    assert.equal(limits.MAX_APPEND_BYTES, 1024 * 1024);
    assert.equal(limits.MAX_RECORD_BYTES, 1024 * 1024);
    assert.equal(limits.MAX_FENCING_TOKEN_BYTES, 36);
    assert.equal(limits.MAX_STREAM_NAME_BYTES, 512);
    assert.equal(limits.DEFAULT_INFLIGHT_BYTES, 128 * 1024 * 1024);
    assert.equal(limits.MIN_INFLIGHT_BYTES, 1024 * 1024);
    assert.equal(limits.DEFAULT_RETENTION_AGE_SECONDS, 604_800);
    assert.equal(limits.FOLLOWER_MAX_LAG_BATCHES, 25);
    assert.equal(limits.READ_BATCH_MAX_RECORDS, 1000);
    assert.equal(limits.READ_BATCH_MAX_BYTES, 1024 * 1024);
  });

  it("lets a maximal append fit the smallest in-flight cap (checked at load as well)", () => {
    assert.ok(limits.MAX_APPEND_BYTES <= limits.MIN_INFLIGHT_BYTES);
    assert.ok(limits.MAX_RECORD_BYTES <= limits.MAX_APPEND_BYTES);
  });
});

describe("engine limits", () => {
  it("are the engine's defaults and bounds (engine-options.ts reads them from limits.ts)", async () => {
    const { resolveEngineOptions } = await import("../src/engine/engine-options.js");
    const resolved = resolveEngineOptions({});
    assert.equal(resolved.flushIntervalMs, limits.DEFAULT_FLUSH_INTERVAL_MS);
    assert.equal(resolved.l0SstBytes, limits.DEFAULT_L0_SST_BYTES);
    assert.equal(resolved.maxUnflushedBytes, limits.DEFAULT_MAX_UNFLUSHED_BYTES);
    assert.equal(resolved.sstBlockBytes, limits.DEFAULT_SST_BLOCK_BYTES);
    assert.equal(resolved.maxSstBytes, limits.DEFAULT_MAX_SST_BYTES);
    assert.equal(resolved.blockCacheBytes, limits.DEFAULT_BLOCK_CACHE_BYTES);
    assert.equal(resolved.l0CompactionTrigger, limits.DEFAULT_L0_COMPACTION_TRIGGER);
    assert.equal(resolved.l0MaxSsts, limits.DEFAULT_L0_MAX_SSTS);
    assert.equal(resolved.retry.deadlineMs, limits.DEFAULT_STORE_RETRY_DEADLINE_MS);
    for (const sstBlockBytes of [limits.MIN_SST_BLOCK_BYTES, limits.MAX_SST_BLOCK_BYTES]) {
      assert.equal(resolveEngineOptions({ sstBlockBytes }).sstBlockBytes, sstBlockBytes);
    }
    for (const sstBlockBytes of [limits.MIN_SST_BLOCK_BYTES - 1, limits.MAX_SST_BLOCK_BYTES + 1]) {
      assert.throws(() => resolveEngineOptions({ sstBlockBytes }), /sstBlockBytes/);
    }
    assert.throws(() => resolveEngineOptions({ flushIntervalMs: limits.MAX_FLUSH_INTERVAL_MS + 1 }), /flushIntervalMs/);
  });

  it("the SST builder has the same block-size default and range as the engine option", async () => {
    const { SstBuilder } = await import("../src/engine/sst-format.js");
    assert.throws(() => new SstBuilder({ blockBytes: limits.MIN_SST_BLOCK_BYTES - 1 }), /blockBytes/);
    assert.throws(() => new SstBuilder({ blockBytes: limits.MAX_SST_BLOCK_BYTES + 1 }), /blockBytes/);
    new SstBuilder({ blockBytes: limits.MAX_SST_BLOCK_BYTES });
  });

  it("hold their relations", () => {
    assert.ok(limits.DEFAULT_MAX_UNFLUSHED_BYTES >= 2 * limits.DEFAULT_L0_SST_BYTES);
    assert.ok(limits.DEFAULT_L0_MAX_SSTS >= 2 * limits.DEFAULT_L0_COMPACTION_TRIGGER);
    assert.ok(limits.DEFAULT_FLUSH_INTERVAL_MS <= limits.DEFAULT_S3_FLUSH_INTERVAL_MS);
  });

  it("a store's preferredFlushIntervalMs is the log's default flush interval (S3Store: 50 ms)", async () => {
    const { MemoryStore, S3Store, openLog } = await import("../src/index.js");
    const s3 = new S3Store({ bucket: "b", endpoint: "http://127.0.0.1:1", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "s" } });
    assert.equal(s3.preferredFlushIntervalMs, limits.DEFAULT_S3_FLUSH_INTERVAL_MS);
    await s3.close();
    // A store preferring an interval past the limit: openLog reports it as the flushIntervalMs option.
    const store = Object.assign(new MemoryStore(), { preferredFlushIntervalMs: limits.MAX_FLUSH_INTERVAL_MS + 1 });
    await assert.rejects(openLog({ store }), /flushIntervalMs/);
    const log = await openLog({ store: Object.assign(new MemoryStore(), { preferredFlushIntervalMs: 7 }) });
    await log.close();
  });
});
