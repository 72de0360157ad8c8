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
import { CorruptionError } from "../errors.js";
import { ByteReader, ByteWriter, DecodeError } from "../util/bytes.js";
import { checksum64, checksum64Matches } from "../util/checksum.js";
import { parseId } from "./paths.js";
import { readBatches, type WalBatch } from "./wal-format.js";

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

/** Encodes one frame from batches already encoded with `encodeBatch`. */
export function encodeFrame(header: FrameHeader, encodedBatches: readonly Uint8Array[]): Uint8Array {
  let payloadBytes = 4;
  for (const batch of encodedBatches) payloadBytes += batch.length;
  const writer = new ByteWriter(FRAME_HEADER_BYTES + payloadBytes + FRAME_CHECKSUM_BYTES);
  writer.bytes(SEGMENT_FRAME_MAGIC).u64(header.generation).u64(header.writerEpoch).u64(header.walId).u64(header.firstSeq);
  writer.u32(payloadBytes).u32(encodedBatches.length);
  for (const batch of encodedBatches) writer.bytes(batch);
  writer.bigU64(checksum64(writer.view()));
  return writer.view();
}

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
