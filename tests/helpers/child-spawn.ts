/**
 * Spawning TypeScript children through tsx and reading their stdout line by line, without the
 * node:test hook of child-process.ts, so that scripts (scripts/soak.ts) can use it too. See
 * child-process.ts for the protocol; tests import that file.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TsxChild {
  readonly process: ChildProcess;
  /** Complete stdout lines so far, in order. */
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the first complete line (already seen or future) that `match` accepts. Rejects if the child exits first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
  /** Resolves when the child exited and its stdout closed (so `lines` is final). */
  readonly exited: Promise<ChildExit>;
  /** Writes a line to the child's stdin. */
  send(line: string): void;
  /** SIGKILLs the child (if still running) and waits for its exit. */
  kill(): Promise<ChildExit>;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every child still running (child-process.ts does it when a test file ends). */
export function killAllChildren(): void {
  for (const child of running) child.kill("SIGKILL");
}

/** Starts `node --import tsx <file> ...args` with the repository as working directory. */
export function spawnTsx(file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): TsxChild {
  const child = spawn(process.execPath, ["--import", "tsx", file, ...args], { cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  running.add(child);
  const lines: string[] = [];
  const watchers = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  let fragment = "";
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (fragment + chunk.toString()).split("\n");
    fragment = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      for (const watcher of watchers) {
        if (watcher.match(line)) {
          watchers.delete(watcher);
          watcher.resolve(line);
        }
      }
    }
  });
  const exited = Promise.all([once(child, "exit"), child.stdout ? once(child.stdout, "close") : Promise.resolve()]).then(([exitArgs]) => {
    running.delete(child);
    const [code, signal] = exitArgs as [number | null, NodeJS.Signals | null];
    return { code, signal };
  });
  const waitForLine = (match: (line: string) => boolean): Promise<string> => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const watcher = { match, resolve };
      watchers.add(watcher);
      void exited.then((exit) => {
        if (!watchers.delete(watcher)) return;
        reject(new Error(`child ${path.basename(file)} exited (${exit.code ?? exit.signal}) before the line we waited for; stderr:\n${stderr}`));
      });
    });
  };
  const kill = async (): Promise<ChildExit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    return exited;
  };
  child.stdin?.on("error", () => {}); // a killed child closes its stdin; a late send must not crash the test
  const send = (line: string): void => {
    child.stdin?.write(`${line}\n`);
  };
  return { process: child, lines, stderr: () => stderr, waitForLine, exited, send, kill };
}

/** Resolves after `ms` of real time. Used only to pick a kill moment, never to wait for a result. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
