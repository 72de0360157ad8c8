import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CorruptionError } from "../../src/errors.js";
import {
  DEFAULT_STREAM_CONFIG,
  applyConfigPatch,
  decodeStreamMeta,
  encodeStreamMeta,
  resolveStreamConfig,
  retentionMs,
  type StreamMeta,
} from "../../src/stream/stream-config.js";
import type { StreamConfig } from "../../src/stream/types.js";

const enc = (o: unknown) => new TextEncoder().encode(typeof o === "string" ? o : JSON.stringify(o));

describe("stream config", () => {
  it("defaults to infinite retention and client-prefer, capped timestamps", () => {
    assert.deepEqual(resolveStreamConfig(), {
      retention: "infinite",
      timestamping: { mode: "client-prefer", uncapped: false },
    });
    assert.ok(Object.isFrozen(DEFAULT_STREAM_CONFIG) && Object.isFrozen(DEFAULT_STREAM_CONFIG.timestamping));
  });

  it("applies a patch field by field and leaves the rest, without changing its input", () => {
    const base = resolveStreamConfig({ retention: "infinite" });
    const patched = applyConfigPatch(base, { timestamping: { uncapped: true } });
    assert.deepEqual(patched, { retention: "infinite", timestamping: { mode: "client-prefer", uncapped: true } });
    assert.deepEqual(base.timestamping, { mode: "client-prefer", uncapped: false });
    const again = applyConfigPatch(patched, { retention: { ageSeconds: 60 }, timestamping: { mode: "arrival" } });
    assert.deepEqual(again, { retention: { ageSeconds: 60 }, timestamping: { mode: "arrival", uncapped: true } });
    assert.deepEqual(applyConfigPatch(again, {}), again);
    assert.deepEqual(applyConfigPatch(again, { timestamping: { mode: undefined } }), again);
  });

  it("gives retention in ms, or undefined when infinite", () => {
    assert.equal(retentionMs(resolveStreamConfig()), undefined);
    assert.equal(retentionMs(resolveStreamConfig({ retention: { ageSeconds: 604_800 } })), 604_800_000);
    assert.equal(retentionMs(resolveStreamConfig({ retention: { ageSeconds: 2 } })), 2000);
    assert.equal(retentionMs(resolveStreamConfig({ retention: "infinite" })), undefined);
  });
});

describe("stream meta value", () => {
  const meta: StreamMeta = {
    id: 7,
    createdAtMs: 1_767_225_600_000,
    config: { retention: "infinite", timestamping: { mode: "client-require", uncapped: true } },
  };

  it("round-trips", () => {
    assert.deepEqual(decodeStreamMeta(encodeStreamMeta(meta), "s"), meta);
    const defaults: StreamMeta = { ...meta, config: resolveStreamConfig() };
    assert.deepEqual(decodeStreamMeta(encodeStreamMeta(defaults), "s"), defaults);
  });

  it("has a pinned binary layout (format v2)", () => {
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
    // version, flags (infinite | uncapped), mode (client-require), id, createdAtMs
    assert.equal(hex(encodeStreamMeta(meta)), "02" + "03" + "01" + "0000000000000007" + "0000019b76daa800");
    const aged: StreamMeta = { id: 0x1_0000_0001, createdAtMs: 5, config: { retention: { ageSeconds: 604_800 }, timestamping: { mode: "arrival", uncapped: false } } };
    assert.equal(hex(encodeStreamMeta(aged)), "02" + "00" + "02" + "0000000100000001" + "0000000000000005" + "0000000000093a80");
    assert.deepEqual(decodeStreamMeta(encodeStreamMeta(aged), "s"), aged);
  });

  it("still decodes format v1 (JSON), which logs written before v2 hold", () => {
    const v1 = enc({ v: 1, id: 7, createdAtMs: 1_767_225_600_000, config: { retention: "infinite", timestamping: { mode: "client-require", uncapped: true } } });
    assert.deepEqual(decodeStreamMeta(v1, "s"), meta);
  });

  it("rejects malformed v2 values with CorruptionError naming the stream", () => {
    const good = encodeStreamMeta(meta);
    const aged = encodeStreamMeta({ ...meta, config: { ...meta.config, retention: { ageSeconds: 60 } } });
    const edit = (bytes: Uint8Array, at: number, byte: number) => Uint8Array.from(bytes, (b, i) => (i === at ? byte : b));
    const bad: [string, Uint8Array][] = [
      ["empty", new Uint8Array(0)],
      ["unknown version", edit(good, 0, 3)],
      ["short", good.subarray(0, good.length - 1)],
      ["long", Uint8Array.from([...good, 0])],
      ["age missing", edit(good, 1, 0)],
      ["unknown flag", edit(good, 1, 0x07)],
      ["unknown mode", edit(good, 2, 3)],
      ["id 0", Uint8Array.from(good, (b, i) => (i >= 3 && i < 11 ? 0 : b))],
      ["id above 2^53", edit(good, 3, 0xff)],
      ["createdAtMs above 2^53", edit(good, 11, 0xff)],
      ["age 0", Uint8Array.from(aged, (b, i) => (i >= 19 ? 0 : b))],
      ["age above the maximum", edit(aged, 20, 0xff)],
    ];
    for (const [what, value] of bad) {
      assert.throws(
        () => decodeStreamMeta(value, "orders"),
        (e: unknown) => e instanceof CorruptionError && e.message.includes("meta of stream orders"),
        what,
      );
    }
  });

  it("fills config fields missing from a stored value with the v1 format's defaults (7 days), not the library's current ones", () => {
    const stored = { v: 1, id: 3, createdAtMs: 5, config: { timestamping: { mode: "arrival" } } };
    const expected: StreamConfig = { retention: { ageSeconds: 604_800 }, timestamping: { mode: "arrival", uncapped: false } };
    assert.deepEqual(decodeStreamMeta(enc(stored), "s").config, expected);
    assert.deepEqual(decodeStreamMeta(enc({ v: 1, id: 3, createdAtMs: 5 }), "s").config, resolveStreamConfig({ retention: { ageSeconds: 604_800 } }));
  });

  it("rejects malformed values with CorruptionError naming the stream", () => {
    const bad: unknown[] = [
      "not json",
      "[1]",
      "null",
      { id: 3, createdAtMs: 5 },
      { v: 2, id: 3, createdAtMs: 5 },
      { v: 1, createdAtMs: 5 },
      { v: 1, id: 0, createdAtMs: 5 },
      { v: 1, id: "3", createdAtMs: 5 },
      { v: 1, id: 3, createdAtMs: -1 },
      { v: 1, id: 3, createdAtMs: 5, config: { retention: { ageSeconds: 0 } } },
      { v: 1, id: 3, createdAtMs: 5, config: { timestamping: { mode: "sometimes" } } },
      { v: 1, id: 3, createdAtMs: 5, config: "x" },
    ];
    for (const value of bad) {
      assert.throws(
        () => decodeStreamMeta(enc(value), "orders"),
        (e: unknown) => e instanceof CorruptionError && e.message.includes("meta of stream orders"),
        JSON.stringify(value),
      );
    }
    assert.throws(() => decodeStreamMeta(Uint8Array.of(0xff), "orders"), CorruptionError);
  });
});
