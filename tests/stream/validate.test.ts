import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError } from "../../src/errors.js";
import {
  MAX_LIST_STREAMS_LIMIT,
  MAX_READ_WAIT_MS,
  MAX_RETENTION_AGE_SECONDS,
  MIB,
  MIN_INFLIGHT_BYTES,
} from "../../src/limits.js";
import { decodeRecordValue, fenceRecord, trimRecord } from "../../src/stream/record-format.js";
import {
  validateAppend,
  validateInflightBytes,
  validateListStreamsOptions,
  validateReadOptions,
  validateStreamConfigPatch,
  validateStreamName,
} from "../../src/stream/validate.js";

const fails = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof ValidationError && message.test(e.message));
const rec = (body: Uint8Array | string = "x", extra: object = {}) => ({ body, ...extra });
const bodyOf = (metered: number) => new Uint8Array(metered - 8);

describe("validateAppend: batch limits", () => {
  it("accepts 1 and 1000 records, refuses 0 and 1001", () => {
    assert.equal(validateAppend([rec()]).records.length, 1);
    assert.equal(validateAppend(Array.from({ length: 1000 }, () => rec())).records.length, 1000);
    fails(() => validateAppend([]), /got 0 records, at least 1/);
    fails(() => validateAppend(Array.from({ length: 1001 }, () => rec())), /got 1001 records, at most 1000/);
  });

  it("accepts a record of exactly 1 MiB metered, refuses one byte more", () => {
    assert.equal(validateAppend([rec(bodyOf(MIB))]).meteredBytes, MIB);
    fails(() => validateAppend([rec(bodyOf(MIB + 1))]), /record 0 is 1048577 metered bytes, at most 1048576/);
    const headerHeavy = { body: "", headers: [["n", new Uint8Array(MIB - 8 - 2 - 1 + 1)]] };
    fails(() => validateAppend([headerHeavy]), /record 0 is 1048577 metered bytes/);
  });

  it("accepts a batch of exactly 1 MiB metered, refuses one byte more", () => {
    const half = MIB / 2;
    assert.equal(validateAppend([rec(bodyOf(half)), rec(bodyOf(half))]).meteredBytes, MIB);
    fails(() => validateAppend([rec(bodyOf(half)), rec(bodyOf(half + 1))]), /got 1048577 metered bytes in 2 records, at most 1048576/);
  });

  it("counts strings as UTF-8 when metering", () => {
    const body = "é".repeat((MIB - 8) / 2);
    assert.equal(validateAppend([rec(body)]).meteredBytes, MIB);
    fails(() => validateAppend([rec(body + "a")]), /at most 1048576/);
  });
});

describe("validateAppend: records", () => {
  it("encodes headers and body, strings as UTF-8, and keeps the caller's timestamp", () => {
    const { records } = validateAppend([{ body: "hé", headers: [["type", new Uint8Array([1, 2])]], timestamp: 42 }]);
    const r = records[0]!;
    assert.equal(r.timestamp, 42);
    assert.equal(r.meteredBytes, 8 + 3 + 2 + 4 + 2);
    assert.equal(r.command, undefined);
    const decoded = decodeRecordValue(r.value);
    assert.deepEqual(decoded.body, new TextEncoder().encode("hé"));
    assert.deepEqual(decoded.headers, [[new TextEncoder().encode("type"), Uint8Array.of(1, 2)]]);
  });

  it("snapshots the bytes when called: changing the buffer afterwards changes nothing", () => {
    const body = Uint8Array.of(1, 2, 3);
    const { records } = validateAppend([rec(body)]);
    body[0] = 9;
    assert.deepEqual(decodeRecordValue(records[0]!.value).body, Uint8Array.of(1, 2, 3));
  });

  it("accepts extra properties on a record, so a ReadRecord can be appended as is", () => {
    const readBack = { seqNum: 5, timestamp: 7, headers: [[Uint8Array.of(0x61), Uint8Array.of(0x62)]], body: Uint8Array.of(1) };
    assert.equal(validateAppend([readBack]).records[0]!.timestamp, 7);
  });

  it("accepts timestamps 0 and MAX_SAFE_INTEGER, refuses negative, fractional, unsafe and non-numbers", () => {
    assert.equal(validateAppend([rec("x", { timestamp: 0 })]).records[0]!.timestamp, 0);
    assert.equal(validateAppend([rec("x", { timestamp: Number.MAX_SAFE_INTEGER })]).records[0]!.timestamp, Number.MAX_SAFE_INTEGER);
    fails(() => validateAppend([rec("x", { timestamp: -1 })]), /record 0 timestamp must be at least 0, got -1/);
    fails(() => validateAppend([rec(), rec("x", { timestamp: 1.5 })]), /record 1 timestamp must be an integer, got 1.5/);
    fails(() => validateAppend([rec("x", { timestamp: Number.MAX_SAFE_INTEGER + 1 })]), /must be an integer/);
    fails(() => validateAppend([rec("x", { timestamp: "5" })]), /must be an integer, got "5"/);
    fails(() => validateAppend([rec("x", { timestamp: new Date(5) })]), /must be an integer/);
  });

  it("takes headers as readonly tuples, plain string[][] pairs or an object, and stores them alike", () => {
    const list = validateAppend([{ body: "b", headers: [["type", "order"], ["v", Uint8Array.of(7)]] }]);
    const inferred: string[][] = [["type", "order"]];
    const tuples = [["type", "order"]] as const;
    const object = validateAppend([{ body: "b", headers: { type: "order", v: Uint8Array.of(7) } }]);
    assert.deepEqual(object.records[0]!.value, list.records[0]!.value);
    assert.equal(object.meteredBytes, list.meteredBytes);
    assert.deepEqual(validateAppend([{ body: "b", headers: inferred }]).records[0]!.value, validateAppend([{ body: "b", headers: tuples }]).records[0]!.value);
    // An object's order is JavaScript's property order: integer-like names first (documented on AppendHeaderObject).
    const ordered = decodeRecordValue(validateAppend([{ body: "", headers: { b: "1", "2": "x" } }]).records[0]!.value);
    assert.deepEqual(ordered.headers.map(([name]) => Buffer.from(name).toString()), ["2", "b"]);
    // The command form through an object, and an empty object: no headers.
    assert.equal(validateAppend([{ body: "t", headers: { "": "fence" } }]).records[0]!.command?.kind, "fence");
    assert.deepEqual(validateAppend([{ body: "b", headers: {} }]).records[0]!.value, validateAppend([{ body: "b" }]).records[0]!.value);
  });

  it("refuses wrong types for records, bodies and headers", () => {
    fails(() => validateAppend("x"), /records must be an array/);
    fails(() => validateAppend([null]), /record 0 must be an object/);
    fails(() => validateAppend([{}]), /record 0 body must be a Uint8Array or a string, got undefined/);
    fails(() => validateAppend([{ body: 5 }]), /body must be a Uint8Array or a string, got 5/);
    fails(() => validateAppend([{ body: new ArrayBuffer(2) }]), /body must be/);
    fails(() => validateAppend([{ body: "", headers: "a" }]), /headers must be an array of \[name, value\] pairs or an object/);
    fails(() => validateAppend([{ body: "", headers: new Map([["a", "b"]]) }]), /headers must be an array .* or an object/);
    fails(() => validateAppend([{ body: "", headers: Uint8Array.of(1) }]), /headers must be an array .* or an object/);
    fails(() => validateAppend([{ body: "", headers: { a: 1 } }]), /header 0 must be a \[name, value\] pair/);
    fails(() => validateAppend([{ body: "", headers: { a: "1", "": "x" } }]), /record 0 header 1 has an empty name/);
    fails(() => validateAppend([{ body: "", headers: [["a"]] }]), /header 0 must be a \[name, value\] pair/);
    fails(() => validateAppend([{ body: "", headers: [["a", "b", "c"]] }]), /header 0 must be/);
    fails(() => validateAppend([{ body: "", headers: [["a", 1]] }]), /header 0 must be/);
  });

  it("refuses an empty header name outside the command form", () => {
    fails(() => validateAppend([{ body: "", headers: [["a", "1"], ["", "x"]] }]), /record 0 header 1 has an empty name/);
    fails(() => validateAppend([{ body: "", headers: [["", "fence"], ["", "trim"]] }]), /header 0 has an empty name/);
    fails(() => validateAppend([{ body: "", headers: [[new Uint8Array(0), "x"], ["b", "y"]] }]), /empty name/);
  });
});

describe("validateAppend: command records", () => {
  it("parses fence and trim records", () => {
    const { records } = validateAppend([fenceRecord("t1"), trimRecord(12), { body: Uint8Array.of(0x6f, 0x6b), headers: [[new Uint8Array(0), Uint8Array.from(Buffer.from("fence"))]] }]);
    assert.deepEqual(records.map((r) => r.command), [
      { kind: "fence", token: "t1" },
      { kind: "trim", seqNum: 12 },
      { kind: "fence", token: "ok" },
    ]);
  });

  it("accepts a fence token of 36 bytes (and the empty token), refuses 37 bytes", () => {
    assert.deepEqual(validateAppend([fenceRecord("x".repeat(36))]).records[0]!.command, { kind: "fence", token: "x".repeat(36) });
    assert.deepEqual(validateAppend([fenceRecord("")]).records[0]!.command, { kind: "fence", token: "" });
    fails(() => validateAppend([fenceRecord("x".repeat(37))]), /record 0 fence token is 37 UTF-8 bytes, at most 36/);
    fails(() => validateAppend([fenceRecord("é".repeat(19))]), /is 38 UTF-8 bytes/);
  });

  it("refuses a fence token that is not valid UTF-8 or holds a lone surrogate", () => {
    fails(() => validateAppend([{ body: Uint8Array.of(0xc3), headers: [["", "fence"]] }]), /not valid UTF-8/);
    fails(() => validateAppend([fenceRecord("\ud800")]), /lone UTF-16 surrogate/);
  });

  it("refuses lone UTF-16 surrogates in string bodies, header names and header values, accepts pairs", () => {
    fails(() => validateAppend([{ body: "a\ud800" }]), /record 0 body contains a lone UTF-16 surrogate/);
    fails(() => validateAppend([rec(), { body: "\udfff" }]), /record 1 body contains a lone UTF-16 surrogate/);
    fails(() => validateAppend([{ body: "", headers: [["k\udc00", "v"]] }]), /record 0 header 0 name contains a lone UTF-16 surrogate/);
    fails(() => validateAppend([{ body: "", headers: [["k", "v"], ["k", "\ud83d"]] }]), /record 0 header 1 value contains a lone/);
    const pair = validateAppend([{ body: "\ud83d\ude00", headers: [["\ud83d\ude00", "\ud83d\ude00"]] }]);
    assert.equal(pair.records.length, 1);
    // Bytes are stored as given: only strings need to be well-formed.
    assert.equal(validateAppend([{ body: Uint8Array.of(0xed, 0xa0, 0x80) }]).records.length, 1);
  });

  it("requires a trim body of exactly 8 bytes", () => {
    fails(() => validateAppend([{ body: new Uint8Array(7), headers: [["", "trim"]] }]), /trim body must be 8 bytes .* got 7/);
    fails(() => validateAppend([{ body: new Uint8Array(9), headers: [["", "trim"]] }]), /got 9/);
  });

  it("refuses an unknown command", () => {
    fails(() => validateAppend([{ body: "", headers: [["", "delete"]] }]), /unknown command "delete"; known: fence, trim/);
    fails(() => validateAppend([{ body: "", headers: [["", "Fence"]] }]), /unknown command/);
    // Issue 13.10: a plain header with an empty name by mistake is told what an empty name means.
    fails(() => validateAppend([{ body: "x", headers: [["", "v"]] }]), /an empty name, which marks a command record .*unknown command "v"; known: fence, trim/);
  });
});

describe("validateAppend: options", () => {
  it("accepts matchSeqNum 0 and MAX_SAFE_INTEGER, refuses -1, fractions and unsafe numbers", () => {
    assert.equal(validateAppend([rec()], { matchSeqNum: 0 }).matchSeqNum, 0);
    assert.equal(validateAppend([rec()], { matchSeqNum: Number.MAX_SAFE_INTEGER }).matchSeqNum, Number.MAX_SAFE_INTEGER);
    fails(() => validateAppend([rec()], { matchSeqNum: -1 }), /matchSeqNum must be at least 0, got -1/);
    fails(() => validateAppend([rec()], { matchSeqNum: 0.5 }), /matchSeqNum must be an integer/);
    fails(() => validateAppend([rec()], { matchSeqNum: 2 ** 53 }), /matchSeqNum must be an integer/);
  });

  it("accepts a fencing token of 36 bytes, refuses 37 bytes, non-strings and lone surrogates", () => {
    assert.equal(validateAppend([rec()], { fencingToken: "é".repeat(18) }).fencingToken, "é".repeat(18));
    fails(() => validateAppend([rec()], { fencingToken: "a".repeat(37) }), /fencingToken is 37 UTF-8 bytes, at most 36/);
    fails(() => validateAppend([rec()], { fencingToken: 5 }), /fencingToken must be a string/);
    fails(() => validateAppend([rec()], { fencingToken: "a\udc00" }), /lone UTF-16 surrogate/);
  });

  it("accepts an AbortSignal, refuses anything else, and refuses unknown options", () => {
    const signal = new AbortController().signal;
    assert.equal(validateAppend([rec()], { signal }).signal, signal);
    fails(() => validateAppend([rec()], { signal: {} }), /signal must be an AbortSignal/);
    fails(() => validateAppend([rec()], { matchSeq: 1 }), /unknown append option property "matchSeq"/);
    fails(() => validateAppend([rec()], 5), /append option must be an object/);
  });

  it("checks the options before the records", () => {
    fails(() => validateAppend([], { matchSeqNum: -1 }), /matchSeqNum/);
  });
});

describe("validateStreamName", () => {
  it("accepts 1 and 512 UTF-8 bytes, refuses 0 and 513", () => {
    assert.equal(validateStreamName("a"), "a");
    assert.equal(validateStreamName("a".repeat(512)), "a".repeat(512));
    assert.equal(validateStreamName("é".repeat(256)), "é".repeat(256));
    fails(() => validateStreamName(""), /must not be empty/);
    fails(() => validateStreamName("a".repeat(513)), /is 513 UTF-8 bytes, at most 512/);
    fails(() => validateStreamName("é".repeat(256) + "a"), /is 513 UTF-8 bytes/);
  });

  it("refuses '.', '..', control characters, lone surrogates and non-strings", () => {
    assert.equal(validateStreamName("..."), "...");
    assert.equal(validateStreamName("orders/eu-1 😀"), "orders/eu-1 😀");
    fails(() => validateStreamName("."), /must not be "."/);
    fails(() => validateStreamName(".."), /must not be ".."/);
    for (const bad of ["a\u0000b", "a\nb", "\u001f", "x\u007f"]) fails(() => validateStreamName(bad), /control character/);
    fails(() => validateStreamName("a\ud800"), /lone UTF-16 surrogate/);
    fails(() => validateStreamName(42), /stream name must be a string, got 42/);
  });
});

describe("validateListStreamsOptions", () => {
  it("defaults to every name, at most 1000", () => {
    assert.deepEqual(validateListStreamsOptions(undefined), { prefix: "", startAfter: undefined, limit: MAX_LIST_STREAMS_LIMIT });
  });

  it("accepts limit 1 and 1000, refuses 0 and 1001", () => {
    assert.equal(validateListStreamsOptions({ limit: 1 }).limit, 1);
    assert.equal(validateListStreamsOptions({ limit: 1000 }).limit, 1000);
    fails(() => validateListStreamsOptions({ limit: 0 }), /limit must be at least 1, got 0/);
    fails(() => validateListStreamsOptions({ limit: 1001 }), /limit must be at most 1000, got 1001/);
  });

  it("accepts any prefix of a name (even '.'), refuses over-long ones and unknown options", () => {
    assert.equal(validateListStreamsOptions({ prefix: "." }).prefix, ".");
    assert.equal(validateListStreamsOptions({ startAfter: "a".repeat(512) }).startAfter, "a".repeat(512));
    fails(() => validateListStreamsOptions({ prefix: "a".repeat(513) }), /prefix is 513 UTF-8 bytes, at most 512/);
    fails(() => validateListStreamsOptions({ startAfter: 1 }), /startAfter must be a string/);
    fails(() => validateListStreamsOptions({ cursor: "a" }), /unknown listStreams option property "cursor"/);
  });
});

describe("validateReadOptions", () => {
  it("defaults to the tail of the stream, no limit, not following", () => {
    assert.deepEqual(validateReadOptions(undefined), {
      from: { tailOffset: 0 },
      clamp: false,
      limit: { count: undefined, bytes: undefined },
      until: undefined,
      follow: false,
      waitMs: undefined,
      signal: undefined,
    });
  });

  it("accepts exactly one kind of start", () => {
    assert.deepEqual(validateReadOptions({ from: { seqNum: 3 } }).from, { seqNum: 3 });
    assert.deepEqual(validateReadOptions({ from: { timestamp: 0 } }).from, { timestamp: 0 });
    assert.deepEqual(validateReadOptions({ from: { tailOffset: 2, seqNum: undefined } }).from, { tailOffset: 2 });
    fails(() => validateReadOptions({ from: {} }), /exactly one of seqNum, timestamp, tailOffset; got none/);
    fails(() => validateReadOptions({ from: { seqNum: 1, timestamp: 2 } }), /got seqNum, timestamp/);
    fails(() => validateReadOptions({ from: { seq: 1 } }), /unknown from property "seq"/);
    fails(() => validateReadOptions({ from: { seqNum: -1 } }), /from.seqNum must be at least 0, got -1/);
    fails(() => validateReadOptions({ from: { tailOffset: 1.5 } }), /from.tailOffset must be an integer/);
  });

  it("accepts limits of 0 and up, refuses negative ones and unknown limit fields", () => {
    assert.deepEqual(validateReadOptions({ limit: { count: 0, bytes: 0 } }).limit, { count: 0, bytes: 0 });
    fails(() => validateReadOptions({ limit: { count: -1 } }), /limit.count must be at least 0, got -1/);
    fails(() => validateReadOptions({ limit: { bytes: "1" } }), /limit.bytes must be an integer/);
    fails(() => validateReadOptions({ limit: { records: 1 } }), /unknown limit property "records"/);
  });

  it("requires a timestamp start below until", () => {
    assert.equal(validateReadOptions({ from: { timestamp: 99 }, until: 100 }).until, 100);
    fails(() => validateReadOptions({ from: { timestamp: 100 }, until: 100 }), /from.timestamp 100 must be below until 100/);
    assert.equal(validateReadOptions({ from: { seqNum: 500 }, until: 100 }).until, 100);
    fails(() => validateReadOptions({ until: -1 }), /until must be at least 0/);
  });

  it("accepts waitMs 0 and 2^31-1 with follow, refuses 2^31, and waitMs without follow", () => {
    assert.equal(validateReadOptions({ follow: true, waitMs: 0 }).waitMs, 0);
    assert.equal(validateReadOptions({ follow: true, waitMs: MAX_READ_WAIT_MS }).waitMs, MAX_READ_WAIT_MS);
    fails(() => validateReadOptions({ follow: true, waitMs: MAX_READ_WAIT_MS + 1 }), /waitMs must be at most 2147483647/);
    fails(() => validateReadOptions({ waitMs: 10 }), /waitMs applies only to a following read/);
  });

  it("refuses non-boolean flags, bad signals and unknown options", () => {
    fails(() => validateReadOptions({ follow: "yes" }), /follow must be a boolean, got "yes"/);
    fails(() => validateReadOptions({ clamp: 1 }), /clamp must be a boolean/);
    fails(() => validateReadOptions({ signal: "stop" }), /signal must be an AbortSignal/);
    fails(() => validateReadOptions({ start: { seqNum: 0 } }), /unknown read option property "start"/);
    fails(() => validateReadOptions(null), /read option must be an object, got null/);
  });
});

describe("validateStreamConfigPatch", () => {
  it("accepts retention of 1 s to the maximum or infinite, refuses 0, past the maximum and other words", () => {
    assert.deepEqual(validateStreamConfigPatch({ retention: "infinite" }), { retention: "infinite" });
    assert.deepEqual(validateStreamConfigPatch({ retention: { ageSeconds: 1 } }), { retention: { ageSeconds: 1 } });
    assert.deepEqual(validateStreamConfigPatch({ retention: { ageSeconds: MAX_RETENTION_AGE_SECONDS } }).retention, {
      ageSeconds: MAX_RETENTION_AGE_SECONDS,
    });
    fails(() => validateStreamConfigPatch({ retention: { ageSeconds: 0 } }), /ageSeconds must be at least 1, got 0/);
    fails(() => validateStreamConfigPatch({ retention: { ageSeconds: MAX_RETENTION_AGE_SECONDS + 1 } }), /ageSeconds must be at most/);
    fails(() => validateStreamConfigPatch({ retention: "forever" }), /must be "infinite" or \{ ageSeconds \}, got "forever"/);
    fails(() => validateStreamConfigPatch({ retention: { age: 5 } }), /unknown stream config retention property "age"/);
  });

  it("accepts each timestamping mode and a partial patch, refuses others", () => {
    for (const mode of ["client-prefer", "client-require", "arrival"] as const) {
      assert.deepEqual(validateStreamConfigPatch({ timestamping: { mode } }), { timestamping: { mode } });
    }
    assert.deepEqual(validateStreamConfigPatch({ timestamping: { uncapped: true } }), { timestamping: { uncapped: true } });
    assert.deepEqual(validateStreamConfigPatch(undefined), {});
    fails(() => validateStreamConfigPatch({ timestamping: { mode: "client" } }), /mode must be one of client-prefer, client-require, arrival, got "client"/);
    fails(() => validateStreamConfigPatch({ timestamping: { uncapped: "no" } }), /uncapped must be a boolean/);
    fails(() => validateStreamConfigPatch({ storageClass: "express" }), /unknown stream config property "storageClass"/);
  });
});

describe("validateInflightBytes", () => {
  it("accepts the minimum, refuses one byte less, and passes undefined through", () => {
    assert.equal(validateInflightBytes(MIN_INFLIGHT_BYTES), MIN_INFLIGHT_BYTES);
    assert.equal(validateInflightBytes(undefined), undefined);
    fails(() => validateInflightBytes(MIN_INFLIGHT_BYTES - 1), /inflightBytes must be at least 1048576, got 1048575/);
    fails(() => validateInflightBytes(Infinity), /inflightBytes must be an integer/);
  });
});
