/**
 * Basins: S2's namespaces of streams, kept in the server's one durastream Log.
 *
 * Each basin `b` is a durastream stream `_basin/b` (names.ts) with infinite retention whose
 * records are the basin's config, one JSON record per change; the last record is the current
 * one, and the stream's creation time is the basin's. Its data streams are the Log's streams
 * named `b/...`. The record (UTF-8 JSON, format version `v`):
 *
 *   { "v": 1, "deleting": false,
 *     "config": { "default_stream_config": { "retention_policy": {"age": 3600} },
 *                 "create_stream_on_append": false, "create_stream_on_read": false } }
 *
 * Deleting a basin appends a record with `deleting: true`, deletes every `b/...` stream, then
 * deletes `_basin/b`. A crash in between leaves the marked basin, and `open()` finishes the
 * deletion before the server takes requests: a deleted basin's streams always go with it.
 * A `_basin/b` stream without records (a crash right after it was created) is an active basin
 * with the default config.
 *
 * Invariants: every change goes through one queue (`#exclusive`), so the cache always equals
 * the last durable record of each basin the server has looked at; a basin is only ever created
 * or changed through this file while the server runs.
 */
import type { Log, StreamConfigPatch } from "../index.js";
import { ApiError, basinNotFound, invalid } from "./api-error.js";
import { BASIN_META_PREFIX, basinMetaStreamName, basinStreamPrefix, validateBasinName } from "./names.js";
import { mergePatches, patchFromJson, patchJson } from "./stream-config-json.js";

/** A basin's config, as the server uses it. */
export interface BasinConfig {
  defaultStreamConfig: StreamConfigPatch;
  createStreamOnAppend: boolean;
  createStreamOnRead: boolean;
}

/** What the catalog knows of a basin. */
export interface BasinState {
  name: string;
  createdAtMs: number;
  config: BasinConfig;
  /** Its deletion started and has not finished (only after a crash in the middle of one). */
  deleting: boolean;
}

/** One page of `list()`. */
export interface BasinPage {
  basins: BasinState[];
  hasMore: boolean;
}

const BASIN_RECORD_V1 = 1;
/** Most streams deleted per listing while a basin is deleted. */
const DELETE_PAGE_STREAMS = 1000;
/** S2's list page size bound. */
export const MAX_LIST_LIMIT = 1000;

const EMPTY_CONFIG: BasinConfig = Object.freeze({ defaultStreamConfig: {}, createStreamOnAppend: false, createStreamOnRead: false });

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function optionalBoolean(value: unknown, what: string): boolean | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== "boolean") throw invalid(`${what} must be a boolean`);
  return value;
}

/** A full basin config from S2's BasinConfig JSON (missing fields take their defaults). */
export function basinConfigFromJson(value: unknown): BasinConfig {
  return applyBasinReconfiguration(EMPTY_CONFIG, value);
}

/** A config with S2's BasinReconfiguration JSON applied (null and missing fields keep theirs). */
export function applyBasinReconfiguration(config: BasinConfig, value: unknown): BasinConfig {
  if (value === null || value === undefined) return config;
  if (!isObject(value)) throw invalid("basin config must be a JSON object");
  if (value.stream_cipher !== null && value.stream_cipher !== undefined) throw invalid("stream_cipher is not supported by durastream serve");
  return {
    defaultStreamConfig: mergePatches(config.defaultStreamConfig, patchFromJson(value.default_stream_config, "default_stream_config")),
    createStreamOnAppend: optionalBoolean(value.create_stream_on_append, "create_stream_on_append") ?? config.createStreamOnAppend,
    createStreamOnRead: optionalBoolean(value.create_stream_on_read, "create_stream_on_read") ?? config.createStreamOnRead,
  };
}

/** S2's BasinConfig JSON. */
export function basinConfigJson(config: BasinConfig): Record<string, unknown> {
  return {
    default_stream_config: patchJson(config.defaultStreamConfig),
    create_stream_on_append: config.createStreamOnAppend,
    create_stream_on_read: config.createStreamOnRead,
  };
}

/** S2's BasinInfo JSON. */
export function basinInfoJson(state: BasinState, nowMs: number): Record<string, unknown> {
  return {
    name: state.name,
    location: null,
    created_at: new Date(state.createdAtMs).toISOString(),
    deleted_at: state.deleting ? new Date(nowMs).toISOString() : null,
    state: state.deleting ? "deleting" : "active",
  };
}

function encodeBasinRecord(config: BasinConfig, deleting: boolean): string {
  return JSON.stringify({ v: BASIN_RECORD_V1, deleting, config: basinConfigJson(config) });
}

function decodeBasinRecord(body: Uint8Array, basin: string): { config: BasinConfig; deleting: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw new ApiError(500, "other", `basin ${basin}: its config record is not UTF-8 JSON`);
  }
  if (!isObject(parsed) || parsed.v !== BASIN_RECORD_V1) throw new ApiError(500, "other", `basin ${basin}: unknown config record format`);
  return { config: basinConfigFromJson(parsed.config), deleting: parsed.deleting === true };
}

/** The basins of one Log: create, list, get, reconfigure, delete. See the module header. */
export class BasinCatalog {
  readonly #log: Log;
  readonly #cache = new Map<string, BasinState>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(log: Log) {
    this.#log = log;
  }

  /** Finishes the deletions a crash interrupted. Call once before serving. */
  async open(): Promise<void> {
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.list({ prefix: "", startAfter, limit: MAX_LIST_LIMIT });
      for (const basin of page.basins) if (basin.deleting) await this.#exclusive(() => this.#finishDeletion(basin.name));
      if (!page.hasMore) return;
      startAfter = page.basins.at(-1)!.name;
    }
  }

  /** Runs `action` after every change queued before it. */
  #exclusive<T>(action: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(action, action);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** A basin's state, or undefined when it does not exist. */
  async find(name: string): Promise<BasinState | undefined> {
    const cached = this.#cache.get(name);
    if (cached !== undefined) return cached;
    const metaName = basinMetaStreamName(name);
    const [info] = await this.#log.listStreams({ prefix: metaName, limit: 1 });
    if (info === undefined || info.name !== metaName) return undefined;
    const stream = await this.#log.openStream(metaName);
    let config = EMPTY_CONFIG;
    let deleting = false;
    for await (const record of stream.read({ from: { tailOffset: 1 } })) ({ config, deleting } = decodeBasinRecord(record.body, name));
    const state: BasinState = { name, createdAtMs: info.createdAtMs, config, deleting };
    if (this.#cache.get(name) === undefined) this.#cache.set(name, state);
    return this.#cache.get(name);
  }

  /** A basin that exists and is not being deleted; else basin_not_found / basin_deletion_pending. */
  async get(name: string): Promise<BasinState> {
    validateBasinName(name);
    const state = await this.find(name);
    if (state === undefined) throw basinNotFound(name);
    if (state.deleting) throw deletionPending(name);
    return state;
  }

  /**
   * Creates a basin. `ensure` (PUT): an existing basin is not an error, and a config given
   * replaces its config. Resolves with the state and "created" | "updated" | "noop".
   */
  create(name: string, configJson: unknown, mode: "create" | "ensure"): Promise<{ state: BasinState; outcome: "created" | "updated" | "noop" }> {
    validateBasinName(name);
    const config = basinConfigFromJson(configJson);
    return this.#exclusive(async () => {
      const existing = await this.find(name);
      if (existing !== undefined) {
        if (existing.deleting) throw deletionPending(name);
        if (mode === "create") throw new ApiError(409, "resource_already_exists", `basin ${JSON.stringify(name)} already exists`);
        if (configJson === undefined || configJson === null || sameConfig(existing.config, config)) return { state: existing, outcome: "noop" as const };
        return { state: await this.#write(existing, config, false), outcome: "updated" as const };
      }
      const info = await this.#log.createStream(basinMetaStreamName(name), { retention: "infinite" });
      const state: BasinState = { name, createdAtMs: info.createdAtMs, config: EMPTY_CONFIG, deleting: false };
      this.#cache.set(name, state);
      return { state: await this.#write(state, config, false), outcome: "created" as const };
    });
  }

  /**
   * Runs `create` (which creates streams of the basin) in the catalog's queue, after checking
   * that the basin exists and is not being deleted: a stream can never be created between a
   * deletion's last listing of the basin's streams and the end of that deletion.
   */
  whileActive<T>(name: string, create: () => Promise<T>): Promise<T> {
    return this.#exclusive(async () => {
      await this.get(name);
      return create();
    });
  }

  /** Applies S2's BasinReconfiguration JSON. */
  reconfigure(name: string, patchJsonValue: unknown): Promise<BasinState> {
    return this.#exclusive(async () => {
      const state = await this.get(name);
      return this.#write(state, applyBasinReconfiguration(state.config, patchJsonValue), false);
    });
  }

  /** Deletes a basin and every stream in it. */
  delete(name: string): Promise<void> {
    validateBasinName(name);
    return this.#exclusive(async () => {
      const state = await this.find(name);
      if (state === undefined) throw basinNotFound(name);
      if (!state.deleting) await this.#write(state, state.config, true);
      await this.#finishDeletion(name);
    });
  }

  /** Basins in name order, from `_basin/` listings of the Log. */
  async list(options: { prefix: string; startAfter: string | undefined; limit: number }): Promise<BasinPage> {
    const infos = await this.#log.listStreams({
      prefix: BASIN_META_PREFIX + options.prefix,
      ...(options.startAfter === undefined ? {} : { startAfter: BASIN_META_PREFIX + options.startAfter }),
      limit: Math.min(options.limit + 1, MAX_LIST_LIMIT),
    });
    const hasMore = infos.length > options.limit;
    const basins: BasinState[] = [];
    for (const info of infos.slice(0, options.limit)) {
      const state = await this.find(info.name.slice(BASIN_META_PREFIX.length));
      if (state !== undefined) basins.push(state);
    }
    return { basins, hasMore };
  }

  async #write(state: BasinState, config: BasinConfig, deleting: boolean): Promise<BasinState> {
    const stream = await this.#log.openStream(basinMetaStreamName(state.name));
    await stream.append([{ body: encodeBasinRecord(config, deleting) }]);
    const next: BasinState = { ...state, config, deleting };
    this.#cache.set(state.name, next);
    return next;
  }

  async #finishDeletion(name: string): Promise<void> {
    const prefix = basinStreamPrefix(name);
    for (;;) {
      const streams = await this.#log.listStreams({ prefix, limit: DELETE_PAGE_STREAMS });
      if (streams.length === 0) break;
      for (const stream of streams) await this.#log.deleteStream(stream.name).catch(ignoreNotFound);
    }
    await this.#log.deleteStream(basinMetaStreamName(name)).catch(ignoreNotFound);
    this.#cache.delete(name);
  }
}

function ignoreNotFound(error: unknown): void {
  if ((error as { code?: unknown }).code !== "stream_not_found") throw error;
}

function deletionPending(name: string): ApiError {
  return new ApiError(409, "basin_deletion_pending", `basin ${JSON.stringify(name)} is being deleted`);
}

function sameConfig(a: BasinConfig, b: BasinConfig): boolean {
  return JSON.stringify(basinConfigJson(a)) === JSON.stringify(basinConfigJson(b));
}
