/**
 * Fresh memory with its pages faulted in on the thread pool instead of on the log's thread.
 *
 * Why: the first write into a fresh buffer faults in each 4 KiB page, and on the 2-core VM of
 * bench/README.md that cost more than the write itself: filling a fresh 64 MiB buffer took
 * 36-40 ms against 4 ms for one whose pages were there ("The page cache, reused segments and
 * fresh memory"). Reading /dev/zero into the buffer makes the kernel fault the pages in, on a
 * thread-pool thread, while the log's thread goes on; the log's thread pays a few dispatches.
 *
 *   prefault(buffer) ──fs.read(/dev/zero, chunk) x n──> resolves true: every page is there
 *                                                        (false: no /dev/zero; nothing happened)
 *
 * The caller's duty: nothing reads or writes the buffer until the promise settled (the kernel
 * writes zeros into it meanwhile). Best effort: where /dev/zero cannot be opened (Windows) or a
 * read fails, the memory is faulted in by its first use, as without this.
 */
import { open, read } from "node:fs";

/** Bytes per read of /dev/zero: one thread-pool request each, so a long prefault never holds the pool's threads for long. */
const PREFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

let zeroFd: Promise<number | undefined> | undefined;

/** The process's one descriptor of /dev/zero, opened on first use and kept (it holds no event-loop handle). */
function devZero(): Promise<number | undefined> {
  zeroFd ??= new Promise((resolve) => {
    if (process.platform === "win32") return resolve(undefined);
    open("/dev/zero", "r", (error, fd) => resolve(error === null ? fd : undefined));
  });
  return zeroFd;
}

/** Faults in every page of `buffer` on the thread pool (see the header); resolves whether it did. */
export async function prefault(buffer: Uint8Array): Promise<boolean> {
  const fd = await devZero();
  if (fd === undefined) return false;
  for (let at = 0; at < buffer.length; at += PREFAULT_CHUNK_BYTES) {
    const length = Math.min(PREFAULT_CHUNK_BYTES, buffer.length - at);
    const done = await new Promise<boolean>((resolve) => read(fd, buffer, at, length, null, (error, bytesRead) => resolve(error === null && bytesRead === length)));
    if (!done) return false;
  }
  return true;
}
