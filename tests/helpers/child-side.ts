/**
 * The child's side of the line protocol the crash and two-writer tests speak with their child
 * processes (tests/helpers/child-process.ts is the parent's): one line per event on stdout,
 * "loaded" once the modules are in, then nothing until the parent sends "go" on stdin (it
 * starts the next child while it checks the previous round, to hide the load time).
 * A line is written to the pipe before `print` returns (writeSync, waiting while the pipe is
 * full), so a line printed before a SIGKILL reaches the parent. `process.stdout.write` is not
 * enough: on Linux it queues in the child once the pipe is full (a parent slow to read, on a
 * loaded machine), and the queue dies with the child, so the parent counted fewer acks than
 * the child had printed.
 */
import { writeSync } from "node:fs";
import { createInterface } from "node:readline";

/** How long `print` sleeps while the pipe to the parent is full. */
const PIPE_FULL_SLEEP_MS = 1;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function print(line: string): void {
  const bytes = Buffer.from(`${line}\n`);
  for (let written = 0; written < bytes.length; ) {
    try {
      written += writeSync(1, bytes, written, bytes.length - written);
    } catch (error) {
      if ((error as { code?: string }).code !== "EAGAIN") throw error;
      Atomics.wait(sleeper, 0, 0, PIPE_FULL_SLEEP_MS);
    }
  }
}

/** An error's stable code, or `fallback` for one without. */
export function codeOf(error: unknown, fallback = "unknown"): string {
  return String((error as { code?: unknown }).code ?? fallback);
}

/** An error's message on one line. */
export function oneLine(error: unknown): string {
  return error instanceof Error ? error.message.replace(/\n/g, " ") : String(error);
}

/**
 * Prints `<letter> <code> <message>` and exits with status 3: what a child does on a failure it
 * never expects. Also installed for unhandled rejections and exceptions.
 */
export function failWith(letter: string, fallbackCode = "unknown"): (error: unknown) => never {
  const fail = (error: unknown): never => {
    print(`${letter} ${codeOf(error, fallbackCode)} ${oneLine(error)}`);
    process.exit(3);
  };
  process.on("unhandledRejection", fail);
  process.on("uncaughtException", fail);
  return fail;
}

/** Prints "loaded" and waits for "go"; exits quietly if the parent went away first. */
export async function waitForGo(): Promise<void> {
  print("loaded");
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "go") return;
  }
  process.exit(0); // the parent went away before telling us to start
}

/**
 * Prints `a <index> <seq>` for each batch once it is durable, in batch order (durability is a
 * prefix of seqs, and the parent counts lines): batch i was written with seq baseSeq + 1 + i.
 * Returns what to call when batch `index` is durable.
 */
export function orderedAckPrinter(baseSeq: number): (index: number) => void {
  let nextAck = 0;
  const durable = new Set<number>();
  return (index) => {
    durable.add(index);
    while (durable.delete(nextAck)) {
      print(`a ${nextAck} ${baseSeq + 1 + nextAck}`);
      nextAck++;
    }
  };
}
