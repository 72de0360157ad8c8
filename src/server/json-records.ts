/**
 * S2's JSON shapes of records, in its two formats (the `s2-format` request header):
 * `raw` (the default: header names, values and bodies are strings, stored as UTF-8 and read
 * back decoded as UTF-8) and `base64` (each is the base64 of its bytes).
 *
 *   append: {"records": [{"headers": [["n", "v"]], "body": "...", "timestamp": 1}],
 *            "match_seq_num": 0, "fencing_token": "t"}
 *   read:   {"records": [{"seq_num": 0, "timestamp": 1, "headers": [["n", "v"]], "body": "..."}],
 *            "tail": {"seq_num": 1, "timestamp": 1}}
 */
import type { AppendAck, AppendRecord, ReadRecord, StreamPosition } from "../index.js";
import { ApiError } from "./api-error.js";
import type { DecodedAppendInput } from "./protobuf.js";

/** The `s2-format` of JSON bodies. */
export type RecordFormat = "raw" | "base64";

const utf8 = new TextDecoder();
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The request's `s2-format` header: raw (default) or base64. */
export function recordFormat(header: string | undefined): RecordFormat {
  if (header === undefined || header === "raw") return "raw";
  if (header === "base64") return "base64";
  throw new ApiError(400, "bad_header", `s2-format must be "raw" or "base64", got ${JSON.stringify(header)}`);
}

function badJson(detail: string): ApiError {
  return new ApiError(400, "bad_json", `malformed JSON body: ${detail}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function dataIn(value: unknown, format: RecordFormat, what: string): Uint8Array | string {
  if (typeof value !== "string") throw badJson(`${what} must be a string`);
  if (format === "raw") return value;
  if (value.length % 4 !== 0 || !BASE64.test(value)) throw new ApiError(422, "invalid", `${what} is not valid base64`);
  return Buffer.from(value, "base64");
}

function dataOut(bytes: Uint8Array, format: RecordFormat): string {
  return format === "raw" ? utf8.decode(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function optionalU64(value: unknown, what: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw badJson(`${what} must be a whole number >= 0`);
  return value;
}

/** Parses S2's JSON AppendInput. */
export function parseAppendJson(body: Uint8Array, format: RecordFormat): DecodedAppendInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(body));
  } catch (error) {
    throw badJson(error instanceof Error ? error.message : String(error));
  }
  if (!isObject(parsed)) throw badJson("the body must be an object");
  if (!Array.isArray(parsed.records)) throw badJson("`records` must be an array");
  const records = parsed.records.map((r: unknown, i: number): AppendRecord => {
    if (!isObject(r)) throw badJson(`records[${i}] must be an object`);
    const record: AppendRecord = { body: r.body === undefined || r.body === null ? "" : dataIn(r.body, format, `records[${i}].body`) };
    const timestamp = optionalU64(r.timestamp, `records[${i}].timestamp`);
    if (timestamp !== undefined) record.timestamp = timestamp;
    if (r.headers !== undefined && r.headers !== null) {
      if (!Array.isArray(r.headers)) throw badJson(`records[${i}].headers must be an array of [name, value]`);
      record.headers = r.headers.map((h: unknown, j: number): [Uint8Array | string, Uint8Array | string] => {
        if (!Array.isArray(h) || h.length !== 2) throw badJson(`records[${i}].headers[${j}] must be [name, value]`);
        return [dataIn(h[0], format, `records[${i}].headers[${j}][0]`), dataIn(h[1], format, `records[${i}].headers[${j}][1]`)];
      });
    }
    return record;
  });
  const fencingToken = parsed.fencing_token;
  if (fencingToken !== undefined && fencingToken !== null && typeof fencingToken !== "string") throw badJson("`fencing_token` must be a string");
  return {
    records,
    matchSeqNum: optionalU64(parsed.match_seq_num, "match_seq_num"),
    fencingToken: typeof fencingToken === "string" ? fencingToken : undefined,
  };
}

/** S2 JSON of a position. */
export function positionJson(p: StreamPosition): { seq_num: number; timestamp: number } {
  return { seq_num: p.seqNum, timestamp: p.timestamp };
}

/** S2 JSON of an AppendAck. */
export function appendAckJson(ack: AppendAck): Record<string, unknown> {
  return { start: positionJson(ack.start), end: positionJson(ack.end), tail: positionJson(ack.tail) };
}

/** S2 JSON of a ReadBatch. */
export function readBatchJson(records: readonly ReadRecord[], tail: StreamPosition | undefined, format: RecordFormat): Record<string, unknown> {
  const out: Record<string, unknown> = {
    records: records.map((r) => ({
      seq_num: r.seqNum,
      timestamp: r.timestamp,
      headers: r.headers.map(([n, v]) => [dataOut(n, format), dataOut(v, format)]),
      body: dataOut(r.body, format),
    })),
  };
  if (tail !== undefined) out.tail = positionJson(tail);
  return out;
}
