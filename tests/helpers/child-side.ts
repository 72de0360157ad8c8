/**
 * The child's side of the line protocol the crash and two-writer tests speak with their child
 * processes (tests/helpers/child-process.ts is the parent's): one line per event on stdout,
 * "loaded" once the modules are in, then nothing until the parent sends "go" on stdin (it
 * starts the next child while it checks the previous round, to hide the load time).
 * A pipe write is synchronous on Linux: a printed line was printed before the next step runs.
 */
import { createInterface } from "node:readline";

export function print(line: string): void {
  process.stdout.write(`${line}\n`);
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
