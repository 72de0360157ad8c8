/**
 * A small hand-written protobuf codec for the seven messages of S2's `s2.proto` the server
 * speaks: StreamPosition, Header, AppendRecord, AppendInput, AppendAck, SequencedRecord and
 * ReadBatch. Unary appends and reads use them with `application/protobuf`, s2s sessions inside
 * their frames (s2s-framing.ts).
 *
 * Written by hand rather than with a generated codec because seven flat messages are a few
 * dozen lines and the library keeps its dependencies few; a field the decoder does not know is
 * skipped, as protobuf requires.
 *
 * Wire format (proto3): each field is a varint key `(field number << 3) | wire type` followed by
 * a varint (wire type 0) or a varint length and that many bytes (wire type 2). The messages:
 *
 *   StreamPosition  1 seq_num u64            2 timestamp u64
 *   Header          1 name bytes             2 value bytes
 *   AppendRecord    1 timestamp u64 (opt)    2 headers Header*      3 body bytes
 *   AppendInput     1 records AppendRecord*  2 match_seq_num u64 (opt)  3 fencing_token string (opt)
 *   AppendAck       1 start StreamPosition   2 end StreamPosition   3 tail StreamPosition
 *   SequencedRecord 1 seq_num u64            2 timestamp u64        3 headers Header*   4 body bytes
 *   ReadBatch       1 records SequencedRecord*                      2 tail StreamPosition (opt)
 *
 * u64 values are JS numbers: the decoder refuses one past Number.MAX_SAFE_INTEGER.
 */
import type { AppendAck, AppendRecord, ReadRecord, StreamPosition } from "../index.js";
import { ApiError } from "./api-error.js";

/** What AppendInput decodes to. */
export interface DecodedAppendInput {
  records: AppendRecord[];
  matchSeqNum: number | undefined;
  fencingToken: string | undefined;
}

/** A read batch to encode: records and, when the read reached it, the tail. */
export interface ReadBatchOut {
  records: readonly ReadRecord[];
  tail: StreamPosition | undefined;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const utf8 = new TextDecoder("utf-8", { fatal: true });

function badProto(detail: string): ApiError {
  return new ApiError(400, "bad_proto", `malformed protobuf body: ${detail}`);
}

// ------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------

class Reader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end: number = bytes.length,
  ) {}

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw badProto("truncated varint");
      const byte = this.bytes[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw badProto(`integer ${value} is past 2^53 - 1`);
        return value;
      }
      scale *= 128;
    }
    throw badProto("varint longer than 10 bytes");
  }

  lengthDelimited(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.end) throw badProto(`field of ${length} bytes runs past its message`);
    const out = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_LEN) this.lengthDelimited();
    else if (wireType === WIRE_I64) this.advance(8);
    else if (wireType === WIRE_I32) this.advance(4);
    else throw badProto(`unsupported wire type ${wireType}`);
  }

  advance(count: number): void {
    if (this.pos + count > this.end) throw badProto("truncated fixed-width field");
    this.pos += count;
  }

  /** Calls `field(number, wireType)` for each field until the end of the message. */
  fields(field: (fieldNumber: number, wireType: number) => boolean): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const fieldNumber = Math.floor(key / 8);
      const wireType = key & 7;
      if (fieldNumber === 0) throw badProto("field number 0");
      if (!field(fieldNumber, wireType)) this.skip(wireType);
    }
  }
}

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw badProto(`${what} has wire type ${actual}, expected ${expected}`);
}

function decodeHeader(bytes: Uint8Array): [Uint8Array, Uint8Array] {
  const reader = new Reader(bytes);
  let name: Uint8Array = new Uint8Array(0);
  let value: Uint8Array = new Uint8Array(0);
  reader.fields((n, w) => {
    if (n === 1) (expectWire(w, WIRE_LEN, "Header.name"), (name = reader.lengthDelimited()));
    else if (n === 2) (expectWire(w, WIRE_LEN, "Header.value"), (value = reader.lengthDelimited()));
    else return false;
    return true;
  });
  return [name, value];
}

function decodeAppendRecord(bytes: Uint8Array): AppendRecord {
  const reader = new Reader(bytes);
  const headers: [Uint8Array, Uint8Array][] = [];
  const record: AppendRecord = { body: new Uint8Array(0), headers };
  reader.fields((n, w) => {
    if (n === 1) (expectWire(w, WIRE_VARINT, "AppendRecord.timestamp"), (record.timestamp = reader.varint()));
    else if (n === 2) (expectWire(w, WIRE_LEN, "AppendRecord.headers"), headers.push(decodeHeader(reader.lengthDelimited())));
    else if (n === 3) (expectWire(w, WIRE_LEN, "AppendRecord.body"), (record.body = reader.lengthDelimited()));
    else return false;
    return true;
  });
  return record;
}

/** Decodes an AppendInput; throws ApiError bad_proto on malformed bytes. */
export function decodeAppendInput(bytes: Uint8Array): DecodedAppendInput {
  const reader = new Reader(bytes);
  const out: DecodedAppendInput = { records: [], matchSeqNum: undefined, fencingToken: undefined };
  reader.fields((n, w) => {
    if (n === 1) (expectWire(w, WIRE_LEN, "AppendInput.records"), out.records.push(decodeAppendRecord(reader.lengthDelimited())));
    else if (n === 2) (expectWire(w, WIRE_VARINT, "AppendInput.match_seq_num"), (out.matchSeqNum = reader.varint()));
    else if (n === 3) {
      expectWire(w, WIRE_LEN, "AppendInput.fencing_token");
      try {
        out.fencingToken = utf8.decode(reader.lengthDelimited());
      } catch {
        throw badProto("fencing_token is not UTF-8");
      }
    } else return false;
    return true;
  });
  return out;
}

// ------------------------------------------------------------------------------------------
// Encoding: sizes first, then one allocation
// ------------------------------------------------------------------------------------------

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** A length-delimited field's full size: key byte, length varint, payload. Field numbers here are < 16. */
function lenFieldSize(payloadBytes: number): number {
  return 1 + varintSize(payloadBytes) + payloadBytes;
}

function positionSize(p: StreamPosition): number {
  return (p.seqNum === 0 ? 0 : 1 + varintSize(p.seqNum)) + (p.timestamp === 0 ? 0 : 1 + varintSize(p.timestamp));
}

function headerSize(name: Uint8Array, value: Uint8Array): number {
  return (name.length === 0 ? 0 : lenFieldSize(name.length)) + (value.length === 0 ? 0 : lenFieldSize(value.length));
}

function sequencedRecordSize(r: ReadRecord): number {
  let size = (r.seqNum === 0 ? 0 : 1 + varintSize(r.seqNum)) + (r.timestamp === 0 ? 0 : 1 + varintSize(r.timestamp));
  for (const [name, value] of r.headers) size += lenFieldSize(headerSize(name, value));
  if (r.body.length > 0) size += lenFieldSize(r.body.length);
  return size;
}

class Writer {
  pos = 0;
  readonly bytes: Uint8Array;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  varint(value: number): void {
    while (value >= 128) {
      this.bytes[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    this.bytes[this.pos++] = value;
  }
  key(fieldNumber: number, wireType: number): void {
    this.bytes[this.pos++] = (fieldNumber << 3) | wireType;
  }
  u64Field(fieldNumber: number, value: number): void {
    if (value === 0) return;
    this.key(fieldNumber, WIRE_VARINT);
    this.varint(value);
  }
  bytesField(fieldNumber: number, value: Uint8Array): void {
    if (value.length === 0) return;
    this.key(fieldNumber, WIRE_LEN);
    this.varint(value.length);
    this.bytes.set(value, this.pos);
    this.pos += value.length;
  }
  messageHeader(fieldNumber: number, size: number): void {
    this.key(fieldNumber, WIRE_LEN);
    this.varint(size);
  }
  position(fieldNumber: number, p: StreamPosition): void {
    this.messageHeader(fieldNumber, positionSize(p));
    this.u64Field(1, p.seqNum);
    this.u64Field(2, p.timestamp);
  }
}

/** Encodes an AppendAck. */
export function encodeAppendAck(ack: AppendAck): Uint8Array {
  const size = lenFieldSize(positionSize(ack.start)) + lenFieldSize(positionSize(ack.end)) + lenFieldSize(positionSize(ack.tail));
  const writer = new Writer(size);
  writer.position(1, ack.start);
  writer.position(2, ack.end);
  writer.position(3, ack.tail);
  return finish(writer, size);
}

/** Encodes a ReadBatch (an empty one with a tail is an s2s heartbeat). */
export function encodeReadBatch(batch: ReadBatchOut): Uint8Array {
  let size = 0;
  const recordSizes = batch.records.map(sequencedRecordSize);
  for (const recordSize of recordSizes) size += lenFieldSize(recordSize);
  if (batch.tail !== undefined) size += lenFieldSize(positionSize(batch.tail));
  const writer = new Writer(size);
  batch.records.forEach((r, i) => {
    writer.messageHeader(1, recordSizes[i]!);
    writer.u64Field(1, r.seqNum);
    writer.u64Field(2, r.timestamp);
    for (const [name, value] of r.headers) {
      writer.messageHeader(3, headerSize(name, value));
      writer.bytesField(1, name);
      writer.bytesField(2, value);
    }
    writer.bytesField(4, r.body);
  });
  if (batch.tail !== undefined) writer.position(2, batch.tail);
  return finish(writer, size);
}

function finish(writer: Writer, size: number): Uint8Array {
  if (writer.pos !== size) throw new Error(`protobuf encoder wrote ${writer.pos} bytes, sized ${size}`);
  return writer.bytes;
}

// ------------------------------------------------------------------------------------------
// Decoders of what the server sends (tests and the bench use them as a client would)
// ------------------------------------------------------------------------------------------

function decodePosition(bytes: Uint8Array): StreamPosition {
  const reader = new Reader(bytes);
  const p = { seqNum: 0, timestamp: 0 };
  reader.fields((n, w) => {
    if (n === 1 && w === WIRE_VARINT) p.seqNum = reader.varint();
    else if (n === 2 && w === WIRE_VARINT) p.timestamp = reader.varint();
    else return false;
    return true;
  });
  return p;
}

/** Decodes an AppendAck. */
export function decodeAppendAck(bytes: Uint8Array): AppendAck {
  const reader = new Reader(bytes);
  const zero = { seqNum: 0, timestamp: 0 };
  const ack: AppendAck = { start: zero, end: zero, tail: zero };
  reader.fields((n, w) => {
    if (w !== WIRE_LEN || n < 1 || n > 3) return false;
    const p = decodePosition(reader.lengthDelimited());
    if (n === 1) ack.start = p;
    else if (n === 2) ack.end = p;
    else ack.tail = p;
    return true;
  });
  return ack;
}

/** Decodes a ReadBatch. */
export function decodeReadBatch(bytes: Uint8Array): { records: ReadRecord[]; tail: StreamPosition | undefined } {
  const reader = new Reader(bytes);
  const out: { records: ReadRecord[]; tail: StreamPosition | undefined } = { records: [], tail: undefined };
  reader.fields((n, w) => {
    if (n === 1 && w === WIRE_LEN) {
      const r = new Reader(reader.lengthDelimited());
      const record: ReadRecord = { seqNum: 0, timestamp: 0, headers: [], body: new Uint8Array(0) };
      r.fields((m, x) => {
        if (m === 1 && x === WIRE_VARINT) record.seqNum = r.varint();
        else if (m === 2 && x === WIRE_VARINT) record.timestamp = r.varint();
        else if (m === 3 && x === WIRE_LEN) record.headers.push(decodeHeader(r.lengthDelimited()));
        else if (m === 4 && x === WIRE_LEN) record.body = r.lengthDelimited();
        else return false;
        return true;
      });
      out.records.push(record);
    } else if (n === 2 && w === WIRE_LEN) out.tail = decodePosition(reader.lengthDelimited());
    else return false;
    return true;
  });
  return out;
}

/** What `encodeAppendInput` takes: bytes only (tests and the bench, as a client). */
export interface AppendInputOut {
  records: { body: Uint8Array; headers?: [Uint8Array, Uint8Array][]; timestamp?: number }[];
  matchSeqNum?: number;
  fencingToken?: string;
}

/** Encodes an AppendInput (tests and the bench, as a client). */
export function encodeAppendInput(input: AppendInputOut): Uint8Array {
  const token = input.fencingToken === undefined ? undefined : new TextEncoder().encode(input.fencingToken);
  const recordSizes = input.records.map((r) => {
    let size = r.timestamp === undefined ? 0 : 1 + varintSize(r.timestamp);
    for (const [name, value] of r.headers ?? []) size += lenFieldSize(headerSize(name, value));
    return size + (r.body.length === 0 ? 0 : lenFieldSize(r.body.length));
  });
  let size = recordSizes.reduce((sum, n) => sum + lenFieldSize(n), 0);
  if (input.matchSeqNum !== undefined) size += 1 + varintSize(input.matchSeqNum);
  if (token !== undefined) size += lenFieldSize(token.length);
  const writer = new Writer(size);
  input.records.forEach((r, i) => {
    writer.messageHeader(1, recordSizes[i]!);
    if (r.timestamp !== undefined) {
      writer.key(1, WIRE_VARINT);
      writer.varint(r.timestamp);
    }
    for (const [name, value] of r.headers ?? []) {
      writer.messageHeader(2, headerSize(name, value));
      writer.bytesField(1, name);
      writer.bytesField(2, value);
    }
    writer.bytesField(3, r.body);
  });
  if (input.matchSeqNum !== undefined) {
    writer.key(2, WIRE_VARINT);
    writer.varint(input.matchSeqNum);
  }
  if (token !== undefined) {
    writer.key(3, WIRE_LEN);
    writer.varint(token.length);
    writer.bytes.set(token, writer.pos);
    writer.pos += token.length;
  }
  return finish(writer, size);
}
