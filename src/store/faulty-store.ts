/**
 * FaultyStore: an ObjectStore wrapper that injects the failures a real object store and its
 * network produce, so tests (and users testing their own code) can prove that durastream never
 * acknowledges what was not durable and recovers from what goes wrong.
 *
 * Where it sits: it wraps ANY ObjectStore (MemoryStore, LocalStore, S3Store) and is itself one.
 * The engine's retrying layer sits above it, so everything injected here reaches the engine the
 * way a real outage would: through retries, deadlines and recovery.
 *
 *     engine -> retrying store -> FaultyStore -> MemoryStore | LocalStore | S3Store
 *
 * Faults (each can be given at construction and changed at runtime):
 *   - fail a call before the inner store sees it: `failNth`, `failWhen` (StorageError,
 *     retryable, outcome "not_applied" as for a refused request such as a 503);
 *   - lose the response: `loseResponse` applies the call to the inner store, then rejects with
 *     outcome "unknown" (the caller cannot tell whether the write happened);
 *   - latency: fixed or log-normal per call kind, drawn from the injected Random and waited on
 *     the injected Clock (`S3_STANDARD_LATENCY`, `S3_EXPRESS_LATENCY`);
 *   - `cut()` / `heal()`: a call whose latency window overlaps a cut fails once its latency ends,
 *     as through an unreachable network, without touching the inner store;
 *   - counters of calls, injected failures and inner errors per kind, and `reset()`.
 *
 * Call lifecycle, in this order: (1) synchronously at the call, it is numbered, fault rules are
 * evaluated and its latency is drawn, so outcomes depend only on call order, never on timing;
 * (2) it waits its latency; (3) a cut during the window fails it; (4) a "fail" rule rejects it;
 * (5) otherwise the inner store runs it, and a "lose_response" rule then replaces the result with
 * an error. With no faults and no latency it adds no timer and is transparent (the conformance
 * suite runs through it).
 */
import { StorageError, ValidationError } from "../errors.js";
import { systemClock, type Clock } from "../util/clock.js";
import { systemRandom, type Random } from "../util/random.js";
import type { ByteRange, ListEntry, ListOptions, ObjectInfo, ObjectStore, PutCondition, PutResult } from "./object-store.js";
import { FAULTY_LATENCY_CAP_P99_MULTIPLE, FAULTY_LIST_PAGE_ENTRIES, FAULTY_MAX_TRACKED_ATTEMPT_KEYS } from "../limits.js";

/** The ObjectStore methods, as a FaultyStore counts and matches them. */
export type StoreCallKind = "get" | "head" | "put" | "delete" | "list";
export const STORE_CALL_KINDS: readonly StoreCallKind[] = Object.freeze(["get", "head", "put", "delete", "list"]);

/** What a fault predicate sees of a call. */
export interface StoreCall {
  /** Which method was called. */
  readonly kind: StoreCallKind;
  /** The object key; for `list`, the prefix. */
  readonly key: string;
  /** 1-based: this call is the `callNumber`-th of its kind since construction or `reset()`. */
  readonly callNumber: number;
  /**
   * 1-based: calls of this kind to this key since construction or `reset()`, so a retry of the
   * same put is attempt 2. Only the FAULTY_MAX_TRACKED_ATTEMPT_KEYS most recent keys per kind are
   * remembered; a key not called for that long starts again at 1.
   */
  readonly attempt: number;
  /** For `put`: the body (do not modify it) and the condition. */
  readonly body?: Uint8Array;
  /** For `put`: its condition, if any. */
  readonly condition?: PutCondition;
}

// ---------------------------------------------------------------------------------------------
// Latency

/**
 * A latency: fixed, or log-normal given its median and 99th percentile (a heavy right tail like
 * real object stores). Draws are rounded to whole milliseconds and capped at `maxMs` (default
 * 10 x p99Ms) so that one unlucky draw cannot stall a benchmark.
 */
export type Latency =
  | {
      /** Every call waits exactly this long. */
      fixedMs: number;
    }
  | {
      /** Median of a log-normal distribution. */
      medianMs: number;
      /** Its 99th percentile. */
      p99Ms: number;
      /** Cap on a single draw (default: a multiple of p99Ms). */
      maxMs?: number;
    };

/** Latency per call kind; a kind left out has none. `list` pays it once per page of 1000 entries. */
export type LatencyModel = Partial<Record<StoreCallKind, Latency>>;

/** The standard normal's 99th percentile: p99 = median * exp(Z_99 * sigma) for a log-normal. */
const Z_99 = 2.3263478740408408;

/** Median and p99 latency in ms per call kind, of S3 Standard and of S3 Express One Zone, side by side. */
const S3_LATENCY_MS: Readonly<Record<StoreCallKind, { standard: [number, number]; express: [number, number] }>> = {
  put: { standard: [50, 200], express: [8, 25] },
  get: { standard: [45, 180], express: [5, 20] },
  head: { standard: [30, 120], express: [4, 15] },
  delete: { standard: [40, 160], express: [6, 20] },
  list: { standard: [60, 250], express: [8, 30] },
};

function s3LatencyModel(tier: "standard" | "express"): Readonly<LatencyModel> {
  const model: LatencyModel = {};
  for (const kind of STORE_CALL_KINDS) {
    const [medianMs, p99Ms] = S3_LATENCY_MS[kind][tier];
    model[kind] = { medianMs, p99Ms };
  }
  return Object.freeze(model);
}

/**
 * S3 Standard, roughly: PUT median 50 ms, p99 200 ms; GET alike. Approximations from SlateDB's
 * tuning notes (durable write 50-100 ms) and AWS's guidance, not measured here.
 */
export const S3_STANDARD_LATENCY: Readonly<LatencyModel> = s3LatencyModel("standard");

/** S3 Express One Zone, roughly: single-digit milliseconds (SlateDB's tuning notes: 5-10 ms). */
export const S3_EXPRESS_LATENCY: Readonly<LatencyModel> = s3LatencyModel("express");

export function checkLatencyModel(model: LatencyModel): void {
  for (const [kind, latency] of Object.entries(model)) {
    if (latency === undefined) continue;
    const where = `latency for ${kind}`;
    if ("fixedMs" in latency) {
      if (!Number.isFinite(latency.fixedMs) || latency.fixedMs < 0) {
        throw new ValidationError(`${where}: fixedMs must be a non-negative finite number, got ${latency.fixedMs}`);
      }
      continue;
    }
    const { medianMs, p99Ms, maxMs } = latency;
    if (!(Number.isFinite(medianMs) && medianMs > 0 && Number.isFinite(p99Ms) && p99Ms >= medianMs)) {
      throw new ValidationError(`${where}: needs 0 < medianMs <= p99Ms (finite), got medianMs ${medianMs}, p99Ms ${p99Ms}`);
    }
    if (maxMs !== undefined && !(Number.isFinite(maxMs) && maxMs >= p99Ms)) {
      throw new ValidationError(`${where}: maxMs must be finite and at least p99Ms ${p99Ms}, got ${maxMs}`);
    }
  }
}

/** Draws one latency in whole milliseconds; undefined latency is 0. Uses two `random.next()` draws for a log-normal. */
export function sampleLatencyMs(latency: Latency | undefined, random: Random): number {
  if (latency === undefined) return 0;
  if ("fixedMs" in latency) return Math.round(latency.fixedMs);
  const sigma = Math.log(latency.p99Ms / latency.medianMs) / Z_99;
  // Box-Muller; 1 - next() is in (0, 1], so the logarithm is finite.
  const radius = Math.sqrt(-2 * Math.log(1 - random.next()));
  const normal = radius * Math.cos(2 * Math.PI * random.next());
  const capMs = latency.maxMs ?? latency.p99Ms * FAULTY_LATENCY_CAP_P99_MULTIPLE;
  return Math.round(Math.min(capMs, latency.medianMs * Math.exp(sigma * normal)));
}

// ---------------------------------------------------------------------------------------------
// Fault rules

/** "fail": reject before the inner store sees the call. "lose_response": run it, then reject (outcome unknown). */
export type FaultEffect = "fail" | "lose_response";

/** Picks the calls a fault rule applies to. */
export type CallPredicate = (call: StoreCall) => boolean;

/** A fault rule: which calls it fires on, how often, and what it does. */
export interface FaultSpec {
  /** What happens to a call the rule fires on. */
  effect: FaultEffect;
  /** Which calls the rule looks at. */
  when: CallPredicate;
  /** Matching calls to let through before the first firing (0: the next match fires). Default 0. */
  skip?: number;
  /** How many matching calls it fires on, then it retires. Default 1; `Infinity` for every one. */
  times?: number;
  /** The error to reject with instead of the default StorageError. */
  error?: Error | ((call: StoreCall) => Error);
}

/** A rule that was added; lets a test check that it fired, or remove it. */
export interface FaultRule {
  /** Calls it fired on so far. */
  readonly fired: number;
  /** False once it fired `times` times or was removed. */
  readonly active: boolean;
  /** Retires the rule at once. */
  remove(): void;
}

interface RuleState {
  readonly spec: Required<Omit<FaultSpec, "error">> & Pick<FaultSpec, "error">;
  matched: number;
  fired: number;
  removed: boolean;
}

function checkFaultSpec(spec: FaultSpec): RuleState["spec"] {
  const skip = spec.skip ?? 0;
  const times = spec.times ?? 1;
  if (spec.effect !== "fail" && spec.effect !== "lose_response") {
    throw new ValidationError(`fault effect must be "fail" or "lose_response", got ${JSON.stringify(spec.effect)}`);
  }
  if (typeof spec.when !== "function") throw new ValidationError("fault `when` must be a function of the call");
  if (!Number.isSafeInteger(skip) || skip < 0) throw new ValidationError(`fault skip must be a non-negative integer, got ${skip}`);
  if (!(times === Infinity || (Number.isSafeInteger(times) && times > 0))) {
    throw new ValidationError(`fault times must be a positive integer or Infinity, got ${times}`);
  }
  return { effect: spec.effect, when: spec.when, skip, times, error: spec.error };
}

function checkNth(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new ValidationError(`n must be a positive integer (1 = the next call), got ${n}`);
}

// ---------------------------------------------------------------------------------------------
// Errors (real durastream errors, so the layers above handle them as they would a real outage)

const isWrite = (kind: StoreCallKind) => kind === "put" || kind === "delete";
const describeCall = (call: StoreCall) => `${call.kind} ${JSON.stringify(call.key)} (call #${call.callNumber})`;

function unreachableError(call: StoreCall): StorageError {
  const outcome = isWrite(call.kind) ? "; the write may or may not have been applied" : "";
  return new StorageError(
    `object store unreachable (network cut by FaultyStore): ${describeCall(call)} got no response${outcome}; retry once the store is reachable again`,
    { retryable: true, outcome: "unknown" },
  );
}

function refusedError(call: StoreCall): StorageError {
  return new StorageError(`injected fault (FaultyStore): ${describeCall(call)} failed before reaching the store; retrying may succeed`, {
    retryable: true,
    outcome: "not_applied",
  });
}

function lostResponseError(call: StoreCall, innerError: unknown): StorageError {
  return new StorageError(
    `injected fault (FaultyStore): the response to ${describeCall(call)} was lost; the store may have applied it, so check before retrying`,
    { retryable: true, outcome: "unknown", cause: innerError },
  );
}

// ---------------------------------------------------------------------------------------------
// The wrapper

/** Options of `new FaultyStore(inner, options)`. */
export interface FaultyStoreOptions {
  /** Waits latencies. Default systemClock; pass a ManualClock for deterministic tests. */
  clock?: Clock;
  /** Draws latencies. Default systemRandom; pass seededRandom(seed) to replay a run. */
  random?: Random;
  /** Default: no latency (and no timers at all). */
  latency?: LatencyModel;
  /** Rules active from the first call, as if added with `addFault` in this order. */
  faults?: FaultSpec[];
  /** Start with the network cut. Default false. */
  cut?: boolean;
}

/** A count per call kind. */
export type CountsByKind = Record<StoreCallKind, number>;

/** What `counters()` returns. */
export interface FaultyStoreCounters {
  /** Calls made, whatever their outcome. */
  calls: CountsByKind;
  /** Calls this wrapper failed on purpose: rules, lost responses and the cut network. */
  failures: CountsByKind;
  /** Errors from the inner store passed through unchanged (not_found, precondition_failed, ...). */
  innerErrors: CountsByKind;
}

const zeroCounts = (): CountsByKind => ({ get: 0, head: 0, put: 0, delete: 0, list: 0 });

export class FaultyStore implements ObjectStore {
  readonly description: string;
  readonly #inner: ObjectStore;
  readonly #clock: Clock;
  readonly #random: Random;
  #latency: LatencyModel = {};
  #rules: RuleState[] = [];
  #cut: boolean;
  /** Bumped by every cut(): a call whose window saw a change here crossed a cut. */
  #cutGeneration = 0;
  #counters: FaultyStoreCounters = { calls: zeroCounts(), failures: zeroCounts(), innerErrors: zeroCounts() };
  #attempts = new Map<StoreCallKind, Map<string, number>>();

  constructor(inner: ObjectStore, options: FaultyStoreOptions = {}) {
    this.#inner = inner;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#cut = options.cut ?? false;
    this.description = `faulty(${inner.description ?? "store"})`;
    this.setLatency(options.latency);
    for (const spec of options.faults ?? []) this.addFault(spec);
  }

  // --- ObjectStore ---

  get(key: string, range?: ByteRange): Promise<Uint8Array> {
    return this.#call({ kind: "get", key }, () => (range === undefined ? this.#inner.get(key) : this.#inner.get(key, range)));
  }

  head(key: string): Promise<ObjectInfo> {
    return this.#call({ kind: "head", key }, () => this.#inner.head(key));
  }

  put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    const run = () => (condition === undefined ? this.#inner.put(key, body) : this.#inner.put(key, body, condition));
    return this.#call({ kind: "put", key, body, ...(condition === undefined ? {} : { condition }) }, run);
  }

  delete(key: string): Promise<void> {
    return this.#call({ kind: "delete", key }, () => this.#inner.delete(key));
  }

  /** The call begins when iteration begins (when a real store sends its first request). */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry> {
    return { [Symbol.asyncIterator]: () => this.#list(prefix, options) };
  }

  async close(): Promise<void> {
    await this.#inner.close?.();
  }

  // --- Fault control ---

  /** Fails the `n`-th call of `kind` counted from now (1 = the next one), once. */
  failNth(kind: StoreCallKind, n: number, error?: Error): FaultRule {
    checkNth(n);
    return this.addFault({ effect: "fail", when: (call) => call.kind === kind, skip: n - 1, ...(error ? { error } : {}) });
  }

  /** Fails calls the predicate accepts: the next one, or `times` of them (Infinity: all). */
  failWhen(predicate: CallPredicate, options: { times?: number; error?: Error } = {}): FaultRule {
    return this.addFault({ effect: "fail", when: predicate, ...options });
  }

  /**
   * Applies a put or delete to the inner store, then rejects it with outcome "unknown": the
   * `n`-th such call from now, or the next one (or `times`) the predicate accepts. The caller
   * is rejected even if the inner call failed, as with a response lost on the way back.
   */
  loseResponse(kind: "put" | "delete", which: number | CallPredicate, options: { times?: number; error?: Error } = {}): FaultRule {
    if (typeof which === "number") {
      checkNth(which);
      return this.addFault({ effect: "lose_response", when: (call) => call.kind === kind, skip: which - 1, ...options });
    }
    return this.addFault({ effect: "lose_response", when: (call) => call.kind === kind && which(call), ...options });
  }

  /**
   * Adds a rule. Every active rule counts every call it matches; when several fire on the same
   * call, the one added first decides the effect (all of them count the firing). A cut network
   * overrides every rule.
   */
  addFault(spec: FaultSpec): FaultRule {
    const state: RuleState = { spec: checkFaultSpec(spec), matched: 0, fired: 0, removed: false };
    this.#rules.push(state);
    return {
      get fired() {
        return state.fired;
      },
      get active() {
        return !state.removed && state.fired < state.spec.times;
      },
      remove: () => {
        state.removed = true;
        this.#rules = this.#rules.filter((rule) => rule !== state);
      },
    };
  }

  /** Removes every rule (latency and the cut stay as they are). */
  clearFaults(): void {
    for (const rule of this.#rules) rule.removed = true;
    this.#rules = [];
  }

  /** Replaces the latency model; `undefined` removes all latency. Applies to calls made from now on. */
  setLatency(model: LatencyModel | undefined): void {
    checkLatencyModel(model ?? {});
    // Copied, so a caller changing its object later cannot slip an unchecked value in.
    this.#latency = Object.fromEntries(Object.entries(model ?? {}).map(([kind, latency]) => [kind, { ...latency }]));
  }

  /** Makes the store unreachable: calls in flight and new calls fail once their latency ends. */
  cut(): void {
    this.#cut = true;
    this.#cutGeneration++;
  }

  /** Makes the store reachable again for calls made from now on. */
  heal(): void {
    this.#cut = false;
  }

  /** Whether the network is cut now (see `cut()` and `heal()`). */
  get isCut(): boolean {
    return this.#cut;
  }

  /** A snapshot of the counters. */
  counters(): FaultyStoreCounters {
    const { calls, failures, innerErrors } = this.#counters;
    return { calls: { ...calls }, failures: { ...failures }, innerErrors: { ...innerErrors } };
  }

  /** Zeroes the counters and the call and attempt numbers. Rules, latency and the cut stay. */
  reset(): void {
    this.#counters = { calls: zeroCounts(), failures: zeroCounts(), innerErrors: zeroCounts() };
    this.#attempts.clear();
  }

  // --- Internals ---

  async #call<T>(request: CallRequest, run: () => Promise<T>): Promise<T> {
    const call = this.#begin(request);
    const effect = this.#match(call);
    await this.#travel(call);
    if (effect !== undefined && effect.spec.effect === "fail") throw this.#injected(call, effect, refusedError);
    if (effect !== undefined) return this.#runAndLose(call, effect, run);
    try {
      return await run();
    } catch (error) {
      this.#counters.innerErrors[call.kind]++;
      throw error;
    }
  }

  async #runAndLose(call: StoreCall, rule: RuleState, run: () => Promise<unknown>): Promise<never> {
    let innerError: unknown;
    try {
      await run();
    } catch (error) {
      innerError = error;
    }
    throw this.#injected(call, rule, (c) => lostResponseError(c, innerError));
  }

  async *#list(prefix: string, options: ListOptions | undefined): AsyncGenerator<ListEntry> {
    const call = this.#begin({ kind: "list", key: prefix });
    const effect = this.#match(call);
    await this.#travel(call);
    // A lost list response looks like a failed one: nothing reaches the caller either way.
    if (effect !== undefined) throw this.#injected(call, effect, refusedError);
    const pages = this.#inner.list(prefix, options)[Symbol.asyncIterator]();
    try {
      for (let inPage = 0; ; inPage++) {
        if (inPage === FAULTY_LIST_PAGE_ENTRIES) {
          await this.#travel(call);
          inPage = 0;
        }
        const step = await this.#innerStep(call, () => pages.next());
        if (step.done) return;
        yield step.value;
      }
    } finally {
      await pages.return?.();
    }
  }

  async #innerStep<T>(call: StoreCall, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      this.#counters.innerErrors[call.kind]++;
      throw error;
    }
  }

  /** Numbers the call (synchronously, at the call). */
  #begin(request: CallRequest): StoreCall {
    const callNumber = ++this.#counters.calls[request.kind];
    return { ...request, callNumber, attempt: this.#nextAttempt(request.kind, request.key) };
  }

  #nextAttempt(kind: StoreCallKind, key: string): number {
    let perKey = this.#attempts.get(kind);
    if (perKey === undefined) this.#attempts.set(kind, (perKey = new Map()));
    const attempt = (perKey.get(key) ?? 0) + 1;
    // Delete and re-insert so the Map's order is least recently called first.
    perKey.delete(key);
    perKey.set(key, attempt);
    if (perKey.size > FAULTY_MAX_TRACKED_ATTEMPT_KEYS) perKey.delete(perKey.keys().next().value as string);
    return attempt;
  }

  /** Evaluates every rule on the call; returns the earliest-added one that fires. */
  #match(call: StoreCall): RuleState | undefined {
    let winner: RuleState | undefined;
    for (const rule of this.#rules) {
      if (!rule.spec.when(call)) continue;
      rule.matched++;
      if (rule.matched <= rule.spec.skip || rule.fired >= rule.spec.times) continue;
      rule.fired++;
      winner ??= rule;
    }
    this.#rules = this.#rules.filter((rule) => rule.fired < rule.spec.times);
    return winner;
  }

  /** The network trip: draws the latency now, waits it, then fails the call if a cut overlapped it. */
  async #travel(call: StoreCall): Promise<void> {
    const cutAtStart = this.#cut;
    const cutGeneration = this.#cutGeneration;
    const delayMs = sampleLatencyMs(this.#latency[call.kind], this.#random);
    if (delayMs > 0) await this.#clock.sleep(delayMs);
    if (cutAtStart || this.#cut || cutGeneration !== this.#cutGeneration) {
      this.#counters.failures[call.kind]++;
      throw unreachableError(call);
    }
  }

  #injected(call: StoreCall, rule: RuleState, makeDefault: (call: StoreCall) => Error): Error {
    this.#counters.failures[call.kind]++;
    const custom = rule.spec.error;
    if (custom === undefined) return makeDefault(call);
    return typeof custom === "function" ? custom(call) : custom;
  }
}

type CallRequest = Pick<StoreCall, "kind" | "key" | "body" | "condition">;
