/**
 * Test helper: an ObjectStore wrapper that holds chosen calls before they reach the inner store,
 * until the test releases them. It stages the races of SlateDB issue 1622 and RFC-0026 exactly:
 * a writer's PUT is issued, stalls (a GC pause, a slow network), the world moves on, then the
 * PUT arrives. FaultyStore's latency can delay calls too, but only by kind and by clock; a gate
 * picks one call by its key and tells the test the moment it was issued.
 *
 *     engine -> retrying store -> GatedStore (held here) -> MemoryStore | LocalStore | ...
 */
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "../../src/store/object-store.js";

export interface GatedCall {
  kind: "get" | "head" | "put" | "delete";
  key: string;
}

export interface Gate {
  /** Resolves with the key of the held call as soon as it is issued. */
  readonly reached: Promise<string>;
  /** Lets the held call (and any later matching call) through; resolves when the held call settled. */
  release(): Promise<void>;
}

interface GateState {
  match: (call: GatedCall) => boolean;
  reach: (key: string) => void;
  open: Promise<void>;
  openGate: () => void;
  settled: Promise<void> | undefined;
  used: boolean;
}

export class GatedStore implements ObjectStore {
  readonly description: string;
  readonly #inner: ObjectStore;
  readonly #gates = new Set<GateState>();

  constructor(inner: ObjectStore) {
    this.#inner = inner;
    this.description = `gated(${inner.description ?? "store"})`;
  }

  /** Holds the next call that `match` accepts (only that one) until `release()`. */
  hold(match: (call: GatedCall) => boolean): Gate {
    let reach!: (key: string) => void;
    let openGate!: () => void;
    const reached = new Promise<string>((resolve) => (reach = resolve));
    const open = new Promise<void>((resolve) => (openGate = resolve));
    const state: GateState = { match, reach, open, openGate, settled: undefined, used: false };
    this.#gates.add(state);
    return {
      reached,
      release: async () => {
        this.#gates.delete(state);
        state.openGate();
        await state.settled;
      },
    };
  }

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#through({ kind: "get", key }, () => (range === undefined ? this.#inner.get(key) : this.#inner.get(key, range)));
  }

  head(key: string): Promise<ObjectInfo> {
    return this.#through({ kind: "head", key }, () => this.#inner.head(key));
  }

  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    return this.#through({ kind: "put", key }, () => (condition === undefined ? this.#inner.put(key, body) : this.#inner.put(key, body, condition)));
  }

  delete(key: string): Promise<void> {
    return this.#through({ kind: "delete", key }, () => this.#inner.delete(key));
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return this.#inner.list(prefix, options);
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  #through<T>(call: GatedCall, run: () => Promise<T>): Promise<T> {
    for (const gate of this.#gates) {
      if (gate.used || !gate.match(call)) continue;
      gate.used = true;
      const result = gate.open.then(run);
      gate.settled = result.then(
        () => undefined,
        () => undefined,
      );
      gate.reach(call.key);
      return result;
    }
    return run();
  }
}
