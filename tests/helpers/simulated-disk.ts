/**
 * Test helper: a simulated disk behind the segment WAL's file layer (src/engine/wal-files.ts),
 * for power-loss tests, in the manner of SQLite's test VFS and TigerBeetle's storage simulator.
 *
 * It models what a power cut keeps: a file's bytes are durable up to its last `datasync`; a
 * directory entry (create, rename, unlink) only after `syncDirectory`. At `powerCut(random)`
 * every directory entry goes back to its last synced state and every file to its synced bytes,
 * except that each 512-byte sector touched by an unsynced write may independently have reached
 * the platter (so the last unsynced write can be torn at any 512-byte boundary, and an older one
 * kept in part). Handles opened before the cut belong to the dead "process": every later call
 * on them, or on a directory view of that boot, never settles (the process is gone).
 */
import type { WalDirectory, WalFile } from "../../src/engine/wal-files.js";
import type { ObjectStore } from "../../src/store/object-store.js";

const SECTOR_BYTES = 512;

interface Inode {
  current: Uint8Array;
  durable: Uint8Array;
  /** Sectors written since the last datasync. */
  dirtySectors: Set<number>;
}

export class SimulatedDisk {
  #names = new Map<string, Inode>();
  #durableNames = new Map<string, Inode>();
  #boot = 0;
  /** Counts every mutating call; `cutAtOp` cuts the power when it is reached. */
  ops = 0;
  cutAtOp = Number.POSITIVE_INFINITY;
  #random: () => number = Math.random;
  #onCut: (() => void) | undefined;
  cuts = 0;

  /** A view of the disk for one "process" boot; it dies at the next power cut. */
  directory(description = "sim"): WalDirectory {
    return new SimulatedDirectory(this, this.#boot, description);
  }

  /** Arms a cut at the `op`-th mutating call from now; `onCut` runs when it happens. */
  armCut(op: number, random: () => number, onCut?: () => void): void {
    this.cutAtOp = this.ops + op;
    this.#random = random;
    this.#onCut = onCut;
  }

  powerCut(random: () => number = this.#random): void {
    this.#boot++;
    this.cuts++;
    this.cutAtOp = Number.POSITIVE_INFINITY;
    this.#names = new Map(this.#durableNames);
    const inodes = new Set([...this.#names.values(), ...this.#durableNames.values()]);
    for (const inode of inodes) {
      const kept = new Uint8Array(Math.max(inode.durable.length, inode.current.length));
      kept.set(inode.durable);
      let keptLength = inode.durable.length;
      for (const sector of [...inode.dirtySectors].sort((a, b) => a - b)) {
        if (random() < 0.5) continue;
        const start = sector * SECTOR_BYTES;
        const end = Math.min(start + SECTOR_BYTES, inode.current.length);
        if (start >= end) continue;
        kept.set(inode.current.subarray(start, end), start);
        keptLength = Math.max(keptLength, end);
      }
      inode.durable = kept.slice(0, keptLength);
      inode.current = inode.durable.slice();
      inode.dirtySectors.clear();
    }
    const onCut = this.#onCut;
    this.#onCut = undefined;
    onCut?.();
  }

  /** @internal */ alive(boot: number): boolean {
    return boot === this.#boot;
  }

  /** @internal Counts a mutating call; cuts the power first when armed. Returns false once dead. */
  tick(boot: number): boolean {
    if (boot !== this.#boot) return false;
    this.ops++;
    if (this.ops >= this.cutAtOp) {
      this.powerCut();
      return false;
    }
    return true;
  }

  /** @internal */ lookup(name: string): Inode | undefined {
    return this.#names.get(name);
  }
  /** @internal */ names(): string[] {
    return [...this.#names.keys()];
  }
  /** @internal */ link(name: string, inode: Inode): void {
    this.#names.set(name, inode);
  }
  /** @internal */ unlinkName(name: string): void {
    this.#names.delete(name);
  }
  /** @internal */ syncNames(): void {
    this.#durableNames = new Map(this.#names);
  }

  /** Test access: a file's current bytes (undefined when absent). */
  bytesOf(name: string): Uint8Array | undefined {
    return this.#names.get(name)?.current;
  }

  /** Test access: replaces bytes of a file in place, durably (to plant old frames, damage). */
  overwrite(name: string, offsetBytes: number, bytes: Uint8Array): void {
    const inode = this.#names.get(name);
    if (inode === undefined) throw new Error(`no file ${name}`);
    writeInto(inode, bytes, offsetBytes);
    inode.durable = inode.current.slice();
    inode.dirtySectors.clear();
  }
}

function writeInto(inode: Inode, bytes: Uint8Array, offsetBytes: number): void {
  const end = offsetBytes + bytes.length;
  if (end > inode.current.length) {
    const grown = new Uint8Array(end);
    grown.set(inode.current);
    inode.current = grown;
  }
  inode.current.set(bytes, offsetBytes);
  for (let sector = Math.floor(offsetBytes / SECTOR_BYTES); sector * SECTOR_BYTES < end; sector++) inode.dirtySectors.add(sector);
}

const never = <T>(): Promise<T> => new Promise<T>(() => {});

class SimulatedDirectory implements WalDirectory {
  constructor(
    readonly disk: SimulatedDisk,
    readonly boot: number,
    readonly description: string,
  ) {}

  async ensure(): Promise<void> {
    if (!this.disk.alive(this.boot)) return never();
  }

  async list(): Promise<string[]> {
    if (!this.disk.alive(this.boot)) return never();
    return this.disk.names();
  }

  async createFile(name: string): Promise<WalFile> {
    if (!this.disk.tick(this.boot)) return never();
    if (this.disk.lookup(name) !== undefined) throw Object.assign(new Error(`EEXIST ${name}`), { code: "EEXIST" });
    const inode: Inode = { current: new Uint8Array(0), durable: new Uint8Array(0), dirtySectors: new Set() };
    this.disk.link(name, inode);
    return new SimulatedFile(this.disk, this.boot, inode);
  }

  async openFile(name: string): Promise<WalFile | undefined> {
    if (!this.disk.alive(this.boot)) return never();
    const inode = this.disk.lookup(name);
    return inode === undefined ? undefined : new SimulatedFile(this.disk, this.boot, inode);
  }

  async createSmall(name: string, bytes: Uint8Array): Promise<boolean> {
    if (!this.disk.tick(this.boot)) return never();
    if (this.disk.lookup(name) !== undefined) return false;
    this.disk.link(name, { current: bytes.slice(), durable: bytes.slice(), dirtySectors: new Set() });
    return true;
  }

  async exists(name: string): Promise<boolean> {
    if (!this.disk.alive(this.boot)) return never();
    return this.disk.lookup(name) !== undefined;
  }

  async rename(from: string, to: string): Promise<void> {
    if (!this.disk.tick(this.boot)) return never();
    const inode = this.disk.lookup(from);
    if (inode === undefined) throw Object.assign(new Error(`ENOENT ${from}`), { code: "ENOENT" });
    this.disk.unlinkName(from);
    this.disk.link(to, inode);
  }

  async unlink(name: string): Promise<void> {
    if (!this.disk.tick(this.boot)) return never();
    this.disk.unlinkName(name);
  }

  async syncDirectory(): Promise<void> {
    if (!this.disk.tick(this.boot)) return never();
    this.disk.syncNames();
  }
}

class SimulatedFile implements WalFile {
  constructor(
    readonly disk: SimulatedDisk,
    readonly boot: number,
    readonly inode: Inode,
  ) {}

  async write(bytes: Uint8Array, offsetBytes: number): Promise<void> {
    if (!this.disk.tick(this.boot)) return never();
    writeInto(this.inode, bytes, offsetBytes);
  }

  /** One write of the pieces' concatenation: what a power cut may tear is the same. */
  async writev(pieces: readonly Uint8Array[], offsetBytes: number): Promise<void> {
    return this.write(Buffer.concat(pieces), offsetBytes);
  }

  async datasync(): Promise<void> {
    if (!this.disk.tick(this.boot)) return never();
    this.inode.durable = this.inode.current.slice();
    this.inode.dirtySectors.clear();
  }

  async read(offsetBytes: number, lengthBytes: number): Promise<Uint8Array> {
    if (!this.disk.alive(this.boot)) return never();
    return this.inode.current.slice(offsetBytes, Math.min(offsetBytes + lengthBytes, this.inode.current.length));
  }

  async sizeBytes(): Promise<number> {
    if (!this.disk.alive(this.boot)) return never();
    return this.inode.current.length;
  }

  async close(): Promise<void> {}
}

/** An object store that a power cut kills: every call after it never settles (the process is gone). */
export function killable(inner: ObjectStore): { store: ObjectStore; kill: () => void } {
  let dead = false;
  const never = <T>() => new Promise<T>(() => {});
  const store: ObjectStore = {
    description: "killable",
    get: (key, range) => (dead ? never() : inner.get(key, range)),
    head: (key) => (dead ? never() : inner.head(key)),
    put: (key, body, condition) => (dead ? never() : inner.put(key, body, condition)),
    delete: (key) => (dead ? never() : inner.delete(key)),
    list: (prefix, listOptions) => {
      if (dead) return (async function* () { await never(); })();
      return inner.list(prefix, listOptions);
    },
  };
  return { store, kill: () => (dead = true) };
}

