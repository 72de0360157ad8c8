/**
 * s2s session framing (S2's `s2s.md`), the transport of the SDK's sessions on Node:
 *
 *   +----------------+-----------+---------------------------------------------+
 *   | length (3 B BE)| flag (1 B)| body (length - 1 bytes)                     |
 *   +----------------+-----------+---------------------------------------------+
 *   flag bit 7: terminal (the stream ends after this message)
 *   flag bits 6-5: compression of the body: 00 none, 01 zstd, 10 gzip
 *   flag bits 4-0: reserved
 *   body: a protobuf message (AppendInput, AppendAck or ReadBatch); a terminal message's body
 *         is a 2-byte big-endian HTTP status and the error JSON of the unary API.
 *
 * The server never compresses what it sends; it accepts gzip-compressed frames from a client
 * (zstd where Node has it). A frame larger than MAX_S2S_FRAME_BYTES, a zero length or an
 * unknown compression is a bad frame.
 */
import { gunzipSync } from "node:zlib";
import * as zlib from "node:zlib";
import { ApiError } from "./api-error.js";
import { MAX_S2S_FRAME_BYTES } from "./limits.js";

export const FLAG_TERMINAL = 0x80;
const COMPRESSION_MASK = 0x60;
const COMPRESSION_ZSTD = 0x20;
const COMPRESSION_GZIP = 0x40;

function badFrame(detail: string): ApiError {
  return new ApiError(400, "bad_frame", `bad s2s frame: ${detail}`);
}

/** Frames a message (never compressed). */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const length = 1 + body.length;
  if (length > MAX_S2S_FRAME_BYTES) throw new ApiError(500, "other", `s2s message of ${length} bytes is over the ${MAX_S2S_FRAME_BYTES}-byte frame limit`);
  const frame = new Uint8Array(3 + length);
  frame[0] = (length >> 16) & 0xff;
  frame[1] = (length >> 8) & 0xff;
  frame[2] = length & 0xff;
  frame[3] = 0;
  frame.set(body, 4);
  return frame;
}

/** Frames a terminal message: the status and the error JSON. */
export function encodeTerminalFrame(status: number, json: unknown): Uint8Array {
  const text = Buffer.from(JSON.stringify(json));
  const length = 1 + 2 + text.length;
  const frame = new Uint8Array(3 + length);
  frame[0] = (length >> 16) & 0xff;
  frame[1] = (length >> 8) & 0xff;
  frame[2] = length & 0xff;
  frame[3] = FLAG_TERMINAL;
  frame[4] = (status >> 8) & 0xff;
  frame[5] = status & 0xff;
  frame.set(text, 6);
  return frame;
}

/** A decoded frame. */
export interface Frame {
  terminal: boolean;
  body: Uint8Array;
}

/**
 * Splits a byte stream into frames. Chunks are kept as they come and joined once a whole frame
 * is there (a 1 MiB frame arrives in many 16 KiB chunks: joining on every chunk would copy it
 * again and again). Holds at most one partial frame, bounded by the frame limit.
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #bytes = 0;

  /** Adds bytes; returns the frames they complete. */
  push(chunk: Uint8Array): Frame[] {
    this.#chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.#bytes += chunk.byteLength;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#bytes < 4) break;
      const head = this.#peek(4);
      const length = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
      if (length < 1) throw badFrame("zero length (the flag byte is mandatory)");
      if (length > MAX_S2S_FRAME_BYTES) throw badFrame(`length ${length} is over the ${MAX_S2S_FRAME_BYTES}-byte limit`);
      if (this.#bytes < 3 + length) break;
      const frame = this.#take(3 + length);
      const flag = frame[3]!;
      frames.push({ terminal: (flag & FLAG_TERMINAL) !== 0, body: decompress(flag & COMPRESSION_MASK, frame.subarray(4)) });
    }
    return frames;
  }

  /** Bytes of an incomplete frame still held. */
  get pendingBytes(): number {
    return this.#bytes;
  }

  /** The first `count` held bytes (joined only when they span chunks). */
  #peek(count: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= count) return first;
    this.#chunks = [Buffer.concat(this.#chunks, this.#bytes)];
    return this.#chunks[0]!;
  }

  /** Removes and returns the first `count` held bytes. */
  #take(count: number): Buffer {
    const joined = this.#peek(count);
    const out = joined.subarray(0, count);
    const rest = joined.subarray(count);
    this.#chunks = rest.length === 0 ? [] : [rest];
    this.#bytes -= count;
    return out;
  }
}

function decompress(compression: number, body: Uint8Array): Uint8Array {
  try {
    if (compression === 0) return body;
    if (compression === COMPRESSION_GZIP) return gunzipSync(body, { maxOutputLength: MAX_S2S_FRAME_BYTES });
    const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o: object) => Buffer }).zstdDecompressSync;
    if (compression === COMPRESSION_ZSTD && zstd !== undefined) return zstd(body, { maxOutputLength: MAX_S2S_FRAME_BYTES });
  } catch (error) {
    throw badFrame(`cannot decompress: ${error instanceof Error ? error.message : String(error)}`);
  }
  throw badFrame(`unsupported compression bits ${compression >> 5}`);
}
