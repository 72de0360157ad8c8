/**
 * Segment WAL format (version 1): names of the files in the WAL directory and the frames inside
 * segment files. Decision page: docs/decisions/0005-segment-wal.md.
 *
 * Directory `<LocalStore root>/.durastream-wal/` (LocalStore never lists reserved names):
 *   seg-<generation, 20 digits>       a segment: frames from offset 0, then zeros or stale bytes
 *   spare-<generation, 20 digits>     a segment being preallocated (zeros), not yet in use
 *   seal-<writerEpoch, 20 digits>     empty: that epoch is fenced (its writer must not ack)
 *   ack-<writerEpoch, 20 digits>      that epoch's acknowledged frames, for readers (below)
 *
 * A generation is `writerEpoch * 2^20 + index`: every use of a file gets a new one (a recycled
 * segment is renamed to its new generation), only the writer of that epoch creates it, and the
 * order of generations is the order of the segments. A segment holds frames of its epoch only.
 *
 * Frame (one per group commit), big-endian:
 *   field          width    meaning
 *   magic          4        "DSWF"
 *   generation     8 u64    the segment's generation: a frame left from an earlier use of a
 *                           recycled file has a correct checksum but another generation
 *   writerEpoch    8 u64    the epoch that wrote the frame (= generation >> 20)
 *   walId          8 u64    WAL id: contiguous across frames and WAL objects (one id space)
 *   firstSeq       8 u64    seq of the frame's first batch (0 when it holds none)
 *   payloadBytes   4 u32    length of the payload
 *   payload        n        batchCount u32, then the batches as `encodeBatch` writes them
 *   checksum       8 u64    xxhash64 of every byte before it (header and payload)
 *
 * Ack file (24 bytes, rewritten in place after every acknowledged group, never fsync'd: it is
 * a hint for readers on this machine, rebuilt by the next writer after a crash):
 *   startWalId     8 u64    the epoch's WAL fence: frames of older epochs below it are durable
 *                           (this epoch replayed and fdatasync'd them before it acked anything)
 *   ackedWalId     8 u64    the epoch's last acknowledged frame (startWalId before the first)
 *   checksum       8 u64    xxhash64 of the 16 bytes before it (a torn read is retried)
 *
 * Reading a segment stops at the first frame that does not check out (bad magic, generation,
 * length or checksum): that is the end of the segment's frames, whatever follows. A frame whose
 * checksum is right but whose payload does not decode is corruption (it was written so).
 */
import { CorruptionError, assert } from "../errors.js";
import { ByteReader, ByteWriter, DecodeError, unzeroedBytes, writeBigU64, writeU32, writeU64 } from "../util/bytes.js";
import { checksum64, checksum64Matches, checksum64OfPieces } from "../util/checksum.js";
import { WAL_FRAME_GATHER_MIN_VALUE_BYTES } from "../limits.js";
import { parseId } from "./paths.js";
import { OP_DELETE, OP_PUT, readBatches, writeLengthPrefixed, type WalBatch, type WriteOp } from "./wal-format.js";

export const SEGMENT_FRAME_MAGIC = Buffer.from("DSWF", "latin1");
export const FRAME_HEADER_BYTES = 4 + 8 + 8 + 8 + 8 + 4;
export const FRAME_CHECKSUM_BYTES = 8;
/** Segments per epoch: the index part of a generation. */
export const SEGMENT_INDEX_LIMIT = 2 ** 20;

export const SEGMENT_PREFIX = "seg-";
export const SPARE_PREFIX = "spare-";
export const SEAL_PREFIX = "seal-";
export const ACK_PREFIX = "ack-";
export const ACK_FILE_BYTES = 24;
const ID_DIGITS = 20;

export interface FrameHeader {
  generation: number;
  writerEpoch: number;
  walId: number;
  firstSeq: number;
}

export interface Frame extends FrameHeader {
  batches: WalBatch[];
  /** Offset of the frame in its segment, and its length in bytes. */
  offsetBytes: number;
  frameBytes: number;
}

export function generationOf(writerEpoch: number, index: number): number {
  if (!(index >= 0 && index < SEGMENT_INDEX_LIMIT)) throw new RangeError(`segment index ${index} out of range`);
  const generation = writerEpoch * SEGMENT_INDEX_LIMIT + index;
  if (!Number.isSafeInteger(generation)) throw new RangeError(`writer epoch ${writerEpoch} too large for a segment generation`);
  return generation;
}

export const epochOfGeneration = (generation: number): number => Math.floor(generation / SEGMENT_INDEX_LIMIT);

const formatId = (id: number): string => String(id).padStart(ID_DIGITS, "0");
export const segmentName = (generation: number): string => SEGMENT_PREFIX + formatId(generation);
export const spareName = (generation: number): string => SPARE_PREFIX + formatId(generation);
export const sealName = (writerEpoch: number): string => SEAL_PREFIX + formatId(writerEpoch);
export const ackName = (writerEpoch: number): string => ACK_PREFIX + formatId(writerEpoch);

export interface AckRecord {
  startWalId: number;
  ackedWalId: number;
}

export function encodeAck(record: AckRecord): Uint8Array {
  const writer = new ByteWriter(ACK_FILE_BYTES);
  writer.u64(record.startWalId).u64(record.ackedWalId);
  writer.bigU64(checksum64(writer.view()));
  return writer.view();
}

/** Decodes an ack file; undefined when it does not check out (torn by a concurrent rewrite). */
export function decodeAck(bytes: Uint8Array): AckRecord | undefined {
  if (bytes.length < ACK_FILE_BYTES) return undefined;
  if (!checksum64Matches(bytes, 0, 16)) return undefined;
  try {
    const reader = new ByteReader(bytes);
    return { startWalId: reader.u64(), ackedWalId: reader.u64() };
  } catch {
    return undefined;
  }
}

/** Parses `<prefix><20 digits>`; undefined for any other name (the object keys' parser, paths.ts). */
export const parseWalFileName: (prefix: string, name: string) => number | undefined = parseId;

/** Where a frame's payload starts: after the header, with the batch count as its first field. */
const FRAME_BATCHES_OFFSET = FRAME_HEADER_BYTES + 4;

/** Bytes of a frame whose batches take `batchBytes`: header, batch count, batches, checksum. */
export function frameBytesFor(batchBytes: number): number {
  return FRAME_BATCHES_OFFSET + batchBytes + FRAME_CHECKSUM_BYTES;
}

/** Encodes one frame from batches already encoded with `encodeBatch` (one exactly-sized copy). */
export function encodeFrame(header: FrameHeader, encodedBatches: readonly Uint8Array[]): Uint8Array {
  let batchBytes = 0;
  for (const batch of encodedBatches) batchBytes += batch.length;
  const size = FRAME_BATCHES_OFFSET + batchBytes + FRAME_CHECKSUM_BYTES;
  const out = unzeroedBytes(size);
  let pos = FRAME_BATCHES_OFFSET;
  for (const batch of encodedBatches) {
    out.set(batch, pos);
    pos += batch.length;
  }
  return sealFrame(out, pos, header, encodedBatches.length);
}

/** Writes header and batch count in front of the batches in `out[FRAME_BATCHES_OFFSET, end)` and the checksum after them; returns the frame. */
function sealFrame(out: Uint8Array, end: number, header: FrameHeader, batchCount: number): Uint8Array {
  writeFrameHead(out, header, end - FRAME_BATCHES_OFFSET, batchCount);
  writeBigU64(out, end, checksum64(out.subarray(0, end)));
  return out.subarray(0, end + FRAME_CHECKSUM_BYTES);
}

/** Writes a frame's header and batch count into `out[0, FRAME_BATCHES_OFFSET)`, for batches of `batchBytes`. */
function writeFrameHead(out: Uint8Array, header: FrameHeader, batchBytes: number, batchCount: number): void {
  out.set(SEGMENT_FRAME_MAGIC, 0);
  writeU64(out, 4, header.generation);
  writeU64(out, 12, header.writerEpoch);
  writeU64(out, 20, header.walId);
  writeU64(out, 28, header.firstSeq);
  writeU32(out, 36, FRAME_BATCHES_OFFSET - FRAME_HEADER_BYTES + batchBytes);
  writeU32(out, FRAME_HEADER_BYTES, batchCount);
}

/**
 * A frame gathered from the batches' own bytes (the segment WAL's writer). Each batch is encoded
 * as `encodeBatch` writes it, but only its small fields (seq, op count, kinds, keys, expiries,
 * lengths, and values below WAL_FRAME_GATHER_MIN_VALUE_BYTES) are copied, into small chunks of
 * the gather's own; a larger value is not copied at all: the frame refers to it where the writer
 * put it (a WriteOp's value does not change after its write, wal-format.ts). `finish` returns
 * the frame as pieces for one vectored write (WalFile.writev), the same bytes as `encodeFrame`
 * of the same batches, the checksum computed over the pieces.
 *
 *   chunk:  [ header | seq ops kind key expiry len ]  [ seq ops ... ]  ...  [ checksum ]
 *   pieces:  └ region ─────────────────────────────┘ value └ region ┘ value     └ region ┘
 *
 * Why: a frame built as one array was a second copy of everything in flight (up to the append
 * cap), in a buffer sized for the largest recent group (bench/README.md, "Memory soak: a slow
 * follower's memtables, compaction reads, gathered frames"). Chunks come from a GatherChunks
 * pool and go back to it once the frame's write returned (its bytes are in the page cache then).
 */
export class FrameGather {
  readonly #chunks: GatherChunks;
  /** Every chunk this frame wrote into, for `release`. */
  readonly #used: Uint8Array[] = [];
  /** Finished pieces, and their bytes; the open region of the current chunk is not among them yet. */
  readonly #pieces: Uint8Array[] = [];
  #piecesBytes = 0;
  #chunk: Uint8Array;
  /** Where the open region of `#chunk` starts, and its end (the next free byte). */
  #regionStart = 0;
  #end: number;
  #batchCount = 0;
  #batchBytes = 0;
  #finished = false;

  constructor(chunks: GatherChunks) {
    this.#chunks = chunks;
    this.#chunk = chunks.take(FRAME_BATCHES_OFFSET);
    this.#used.push(this.#chunk);
    this.#end = FRAME_BATCHES_OFFSET; // the header and batch count, written by finish
  }

  get batchCount(): number {
    return this.#batchCount;
  }

  /** Bytes of the batches added so far (as `encodeBatch` would make them). */
  get batchBytes(): number {
    return this.#batchBytes;
  }

  /** Adds batch `seq`; returns its encoded size. */
  add(seq: number, ops: readonly WriteOp[]): number {
    assert(!this.#finished, "FrameGather.add() after finish()");
    const startBytes = this.#encodedBytes();
    let at = this.#room(12);
    writeU64(this.#chunk, at, seq);
    writeU32(this.#chunk, at + 8, ops.length);
    this.#end = at + 12;
    for (const op of ops) {
      const key = op.key;
      if (op.type !== "put") {
        at = this.#room(5 + key.length);
        this.#chunk[at] = OP_DELETE;
        this.#end = writeLengthPrefixed(this.#chunk, at + 1, key);
        continue;
      }
      const value = op.value;
      const copied = value.length < WAL_FRAME_GATHER_MIN_VALUE_BYTES;
      at = this.#room(1 + 4 + key.length + 8 + 4 + (copied ? value.length : 0));
      this.#chunk[at] = OP_PUT;
      at = writeLengthPrefixed(this.#chunk, at + 1, key);
      writeU64(this.#chunk, at, op.expireAtMs ?? 0);
      if (copied) {
        this.#end = writeLengthPrefixed(this.#chunk, at + 8, value);
        continue;
      }
      writeU32(this.#chunk, at + 8, value.length);
      this.#end = at + 12;
      this.#closeRegion();
      this.#pieces.push(value);
      this.#piecesBytes += value.length;
    }
    const bytes = this.#encodedBytes() - startBytes;
    this.#batchCount++;
    this.#batchBytes += bytes;
    return bytes;
  }

  /** The frame: header, the batches, checksum, as pieces in order. Nothing can be added afterwards. */
  finish(header: FrameHeader): Uint8Array[] {
    assert(!this.#finished, "FrameGather.finish() called twice");
    this.#finished = true;
    writeFrameHead(this.#used[0]!, header, this.#batchBytes, this.#batchCount);
    this.#closeRegion();
    const checksum = checksum64OfPieces(this.#pieces);
    const at = this.#room(FRAME_CHECKSUM_BYTES);
    writeBigU64(this.#chunk, at, checksum);
    this.#end = at + FRAME_CHECKSUM_BYTES;
    this.#closeRegion();
    return this.#pieces;
  }

  /** Gives the chunks back (once the frame's write returned: nothing reads them any more). */
  release(): void {
    this.#chunks.give(this.#used);
    this.#used.length = 0;
  }

  /** Bytes of the frame so far (header included): finished pieces and the open region. */
  #encodedBytes(): number {
    return this.#piecesBytes + this.#end - this.#regionStart;
  }

  /** Where `bytes` contiguous bytes of the open region start (in a new chunk when they do not fit the current one). */
  #room(bytes: number): number {
    if (this.#end + bytes <= this.#chunk.length) return this.#end;
    this.#closeRegion();
    this.#chunk = this.#chunks.take(bytes);
    this.#used.push(this.#chunk);
    this.#regionStart = 0;
    this.#end = 0;
    return 0;
  }

  /** Ends the open region as a piece (when it holds anything); the next one starts where it ended. */
  #closeRegion(): void {
    if (this.#end > this.#regionStart) {
      this.#pieces.push(this.#chunk.subarray(this.#regionStart, this.#end));
      this.#piecesBytes += this.#end - this.#regionStart;
    }
    this.#regionStart = this.#end;
  }
}

/**
 * The chunks FrameGathers encode into: GATHER_CHUNK_BYTES each (a larger one, for a key that
 * does not fit, is made for it and not kept), at most GATHER_FREE_CHUNKS kept free.
 */
export class GatherChunks {
  readonly #free: Uint8Array[] = [];

  take(minBytes: number): Uint8Array {
    if (minBytes > GATHER_CHUNK_BYTES) return unzeroedBytes(minBytes);
    return this.#free.pop() ?? unzeroedBytes(GATHER_CHUNK_BYTES);
  }

  give(chunks: readonly Uint8Array[]): void {
    for (const chunk of chunks) {
      if (this.#free.length < GATHER_FREE_CHUNKS && chunk.length === GATHER_CHUNK_BYTES) this.#free.push(chunk);
    }
  }
}

/** Bytes per chunk of a FrameGather: about 1,000 batches of one 1 KiB record (their small fields only). */
const GATHER_CHUNK_BYTES = 64 * 1024;
/** Free chunks kept for the next frames: two frames' worth of small fields (one written, one being gathered) for most groups. */
const GATHER_FREE_CHUNKS = 16;

/**
 * Decodes the frame at `offsetBytes` of a segment of `generation`, or returns undefined when
 * none checks out there (the end of the segment's frames). `bytes` holds the segment from 0.
 */
export function decodeFrameAt(bytes: Uint8Array, offsetBytes: number, generation: number, segment: string): Frame | undefined {
  if (offsetBytes + FRAME_HEADER_BYTES + FRAME_CHECKSUM_BYTES > bytes.length) return undefined;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!view.subarray(offsetBytes, offsetBytes + 4).equals(SEGMENT_FRAME_MAGIC)) return undefined;
  let header: FrameHeader;
  let payloadBytes: number;
  try {
    const reader = new ByteReader(bytes, offsetBytes + 4);
    header = { generation: reader.u64(), writerEpoch: reader.u64(), walId: reader.u64(), firstSeq: reader.u64() };
    payloadBytes = reader.u32();
  } catch {
    return undefined; // a u64 above 2^53: not a frame we wrote
  }
  if (header.generation !== generation || header.writerEpoch !== epochOfGeneration(generation)) return undefined;
  const end = offsetBytes + FRAME_HEADER_BYTES + payloadBytes;
  if (payloadBytes < 4 || end + FRAME_CHECKSUM_BYTES > bytes.length) return undefined;
  if (!checksum64Matches(bytes, offsetBytes, end)) return undefined;
  try {
    const reader = new ByteReader(bytes.subarray(0, end), offsetBytes + FRAME_HEADER_BYTES);
    const batches = readBatches(reader, reader.u32());
    if (reader.remaining !== 0) throw new DecodeError(`${reader.remaining} trailing payload bytes`);
    if (batches.length > 0 && batches[0]!.seq !== header.firstSeq) throw new DecodeError(`first batch seq ${batches[0]!.seq} != header ${header.firstSeq}`);
    return { ...header, batches, offsetBytes, frameBytes: end + FRAME_CHECKSUM_BYTES - offsetBytes };
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptionError(segment, `WAL frame ${header.walId} at offset ${offsetBytes}: ${error.message}`);
    throw error;
  }
}

/** Every frame of a segment, from offset 0 to the first that does not check out. */
export function decodeSegment(bytes: Uint8Array, generation: number, segment: string): Frame[] {
  const frames: Frame[] = [];
  let offsetBytes = 0;
  for (;;) {
    const frame = decodeFrameAt(bytes, offsetBytes, generation, segment);
    if (frame === undefined) return frames;
    if (frames.length > 0 && frame.walId !== frames[frames.length - 1]!.walId + 1) {
      throw new CorruptionError(segment, `WAL frame ${frame.walId} follows frame ${frames[frames.length - 1]!.walId}`);
    }
    frames.push(frame);
    offsetBytes += frame.frameBytes;
  }
}
