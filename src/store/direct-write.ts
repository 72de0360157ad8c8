/**
 * Large objects written around the page cache (O_DIRECT), for LocalStore on Linux.
 *
 * Why: an SST is written once and read back much later (by a compaction, by a catch-up read),
 * so copying it into the page cache buys little, and on the 2-core VM of bench/README.md that
 * copy cost more than building the SST: 150-300 ms of kernel CPU per 64 MiB once the cache grows
 * into memory the VM had not touched lately, against about 2 ms for the same write with
 * O_DIRECT, where the device reads the bytes from our buffer ("SSTs written around the page
 * cache"). RocksDB offers the same for flushes and compactions (use_direct_io_for_flush_and_compaction).
 *
 * O_DIRECT wants the memory address, the file offset and the length aligned. Offset and length
 * are ours: the largest multiple of DIRECT_WRITE_ALIGN_BYTES goes direct, the tail (under 4 KiB)
 * through the page cache on a second descriptor. The address cannot be seen from JavaScript:
 * `directWritableBuffer` allocates a little more than asked and finds the offset at which the
 * kernel takes direct writes by trying them on a scratch file (once per buffer; the SST buffers
 * are kept and reused).
 *
 *   writeDirect(temp, body) ──open O_DIRECT──> aligned prefix, 8 MiB per write ──> tail via a second fd ──> fsync
 *                                              (with DeviceTurns: 256 KiB pieces, each between two WAL group commits)
 *          └ EINVAL (no O_DIRECT on this filesystem, or an unaligned body): false, nothing left behind
 *
 * Alignment decides speed, never correctness: a body that is not aligned, a filesystem without
 * O_DIRECT (tmpfs before Linux 6.6, some FUSE filesystems) or a platform without it takes the
 * page-cache path, as before. Durability is
 * the same: the caller's fsync of the temp file precedes its link or rename, and the cache flush
 * that fsync ends with covers the bytes written direct.
 */
import { closeSync, constants as fsConstants, open as fsOpen, openSync, unlinkSync, write as fsWrite, writeSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import { errnoOf } from "../util/files.js";
import { assert } from "../errors.js";
import { DEVICE_TURN_CHUNK_BYTES } from "../limits.js";
import type { DeviceTurns } from "./device-turns.js";

/** Alignment of the address, the file offset and the length of a direct write (a page: enough for 4Kn devices too). */
export const DIRECT_WRITE_ALIGN_BYTES = 4096;
/** Bytes per direct write call: one thread-pool request each. */
const DIRECT_WRITE_CHUNK_BYTES = 8 * 1024 * 1024;
assert(DEVICE_TURN_CHUNK_BYTES % DIRECT_WRITE_ALIGN_BYTES === 0, "a direct write's pieces keep the file offset aligned");
/** The step between the offsets a probe tries: allocators align to 16 bytes. */
const PROBE_STEP_BYTES = 16;

/** O_DIRECT where Node knows it (Linux); undefined elsewhere. */
const O_DIRECT: number | undefined = (fsConstants as { O_DIRECT?: number }).O_DIRECT;

/**
 * A buffer of `sizeBytes` whose address the kernel accepts for direct writes to files beside
 * `scratchPath`, found by trying writes on that scratch file (created and removed here). Undefined
 * when direct writes are not possible there (no O_DIRECT, a filesystem without it, no offset
 * worked): the caller uses a plain buffer.
 */
export function directWritableBuffer(scratchPath: string, sizeBytes: number): Uint8Array | undefined {
  if (O_DIRECT === undefined || sizeBytes < 2 * DIRECT_WRITE_ALIGN_BYTES) return undefined;
  let fd: number;
  try {
    fd = openSync(scratchPath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | O_DIRECT, 0o600);
  } catch {
    return undefined;
  }
  try {
    const raw = Buffer.allocUnsafeSlow(sizeBytes + DIRECT_WRITE_ALIGN_BYTES);
    for (let at = 0; at < DIRECT_WRITE_ALIGN_BYTES; at += PROBE_STEP_BYTES) {
      try {
        // Two pages: a write within one page passes with any address on some kernels.
        writeSync(fd, raw, at, 2 * DIRECT_WRITE_ALIGN_BYTES, 0);
        return new Uint8Array(raw.buffer, at, sizeBytes);
      } catch (error) {
        if (errnoOf(error) !== "EINVAL") return undefined;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
    try {
      unlinkSync(scratchPath);
    } catch {
      // a scratch file left behind is a temp file: the store's sweep removes it
    }
  }
}

/**
 * Writes `body` to the new file `filePath` (created here, exclusively) with its aligned prefix
 * direct and its tail through the page cache, then fsyncs it. Resolves false, with the file
 * removed again, when the filesystem refuses O_DIRECT or the body's address is not aligned: the
 * caller writes it the usual way; `onUnsupported` is called when the filesystem itself refused.
 * With `turns`, the prefix goes in DEVICE_TURN_CHUNK_BYTES pieces, each started while no WAL group
 * commit is in flight (device-turns.ts).
 */
export async function writeDirect(filePath: string, body: Uint8Array, onUnsupported: () => void, turns?: DeviceTurns): Promise<boolean> {
  if (O_DIRECT === undefined) return false;
  let fd: number;
  try {
    fd = await new Promise<number>((resolve, reject) =>
      fsOpen(filePath, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | O_DIRECT, 0o644, (error, opened) => (error === null ? resolve(opened) : reject(error))),
    );
  } catch (error) {
    if (errnoOf(error) !== "EINVAL") throw error;
    onUnsupported();
    return false;
  }
  const alignedBytes = body.length - (body.length % DIRECT_WRITE_ALIGN_BYTES);
  const chunkBytes = turns === undefined ? DIRECT_WRITE_CHUNK_BYTES : DEVICE_TURN_CHUNK_BYTES;
  try {
    for (let at = 0; at < alignedBytes; ) {
      const turn = turns?.turn();
      if (turn !== undefined) await turn;
      const length = Math.min(chunkBytes, alignedBytes - at);
      const written = await new Promise<number>((resolve, reject) => fsWrite(fd, body, at, length, at, (error, count) => (error === null ? resolve(count) : reject(error))));
      if (written <= 0) throw new Error(`a direct write of ${length} bytes to ${filePath} wrote ${written}`);
      at += written;
    }
  } catch (error) {
    closeSync(fd);
    await unlink(filePath).catch(() => undefined);
    if (errnoOf(error) === "EINVAL") return false; // an unaligned body: the page-cache path
    throw error;
  }
  closeSync(fd);
  const handle = await open(filePath, "r+");
  try {
    if (alignedBytes < body.length) await handle.write(body, alignedBytes, body.length - alignedBytes, alignedBytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}
