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
