import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ValidationError } from "../../src/errors.js";
import { assignTimestamps, type TimestampContext } from "../../src/stream/timestamps.js";

const ctx = (over: Partial<TimestampContext> = {}): TimestampContext => ({
  mode: "client-prefer",
  uncapped: false,
  nowMs: 5000,
  previousMaxMs: 0,
  ...over,
});
const ts = (...values: (number | undefined)[]) => values.map((timestamp) => (timestamp === undefined ? {} : { timestamp }));

describe("assignTimestamps", () => {
  it("client-prefer keeps client timestamps and fills missing ones with now", () => {
    assert.deepEqual(assignTimestamps(ts(1000, undefined), ctx()), [1000, 5000]);
    assert.deepEqual(assignTimestamps(ts(undefined, undefined), ctx()), [5000, 5000]);
  });

  it("clamps out-of-order timestamps inside a batch: 1000, 900, 1100 -> 1000, 1000, 1100", () => {
    assert.deepEqual(assignTimestamps(ts(1000, 900, 1100), ctx()), [1000, 1000, 1100]);
  });

  it("lifts timestamps below the stream's previous maximum: max 1000 lifts 500 and 600", () => {
    assert.deepEqual(assignTimestamps(ts(500, 600), ctx({ previousMaxMs: 1000 })), [1000, 1000]);
    assert.deepEqual(assignTimestamps(ts(undefined), ctx({ previousMaxMs: 9000 })), [9000]);
  });

  it("caps future timestamps at now unless the stream is uncapped", () => {
    assert.deepEqual(assignTimestamps(ts(7000, 100), ctx()), [5000, 5000]);
    assert.deepEqual(assignTimestamps(ts(7000, 100), ctx({ uncapped: true })), [7000, 7000]);
    assert.deepEqual(assignTimestamps(ts(7000, 8000), ctx({ uncapped: true })), [7000, 8000]);
  });

  it("client-require fails the whole batch when any record has no timestamp", () => {
    assert.throws(
      () => assignTimestamps(ts(1, undefined, 3), ctx({ mode: "client-require" })),
      (e: unknown) => e instanceof ValidationError && /record 1 has no timestamp/.test(e.message),
    );
    assert.deepEqual(assignTimestamps(ts(1, 2, 3), ctx({ mode: "client-require" })), [1, 2, 3]);
    assert.deepEqual(assignTimestamps(ts(9000), ctx({ mode: "client-require" })), [5000]);
  });

  it("arrival ignores client timestamps but still never goes below the previous maximum", () => {
    assert.deepEqual(assignTimestamps(ts(1, undefined, 9999), ctx({ mode: "arrival" })), [5000, 5000, 5000]);
    assert.deepEqual(assignTimestamps(ts(undefined), ctx({ mode: "arrival", previousMaxMs: 6000 })), [6000]);
  });

  it("always yields non-decreasing timestamps at or above the previous maximum", () => {
    const mode = fc.constantFrom("client-prefer" as const, "arrival" as const);
    const stamp = fc.option(fc.nat({ max: 10_000 }), { nil: undefined });
    fc.assert(
      fc.property(fc.array(stamp, { maxLength: 30 }), mode, fc.boolean(), fc.nat({ max: 10_000 }), fc.nat({ max: 10_000 }), (stamps, m, uncapped, nowMs, previousMaxMs) => {
        const out = assignTimestamps(ts(...stamps), { mode: m, uncapped, nowMs, previousMaxMs });
        assert.equal(out.length, stamps.length);
        let prev = previousMaxMs;
        for (const t of out) {
          assert.ok(t >= prev);
          if (!uncapped) assert.ok(t <= Math.max(nowMs, previousMaxMs));
          prev = t;
        }
      }),
    );
  });
});
