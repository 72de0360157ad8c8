/**
 * What every handler shares: the Log, the basin catalog, the limits, the server's counters, and
 * the stream handles (`streamFor`), which apply a basin's create-on-append/read rules.
 */
import type { Log, Stream } from "../index.js";
import { ApiError } from "./api-error.js";
import type { BasinCatalog, BasinState } from "./basins.js";
import type { Exchange } from "./exchange.js";
import { dataStreamName } from "./names.js";
import { newStreamConfig, patchFromJson } from "./stream-config-json.js";

/** The server's limits and timeouts (limits.ts has the defaults). */
export interface ServerLimits {
  maxBodyBytes: number;
  drainTimeoutMs: number;
  heartbeatMs: number;
}

/** Counters the server adds to the Log's metrics on /metrics. */
export class ServerCounters {
  requests = 0;
  requestErrors = 0;
  activeSessions = 0;
  appendSessionBatches = 0;
  readSessionBatches = 0;
  sessionsEndedSlowClient = 0;
}

/** Request tokens of recent creates remembered for retries; past this many the oldest go. */
const MAX_REMEMBERED_CREATE_TOKENS = 10_000;

/** Stream handles kept for appends and reads; past this many the cache starts over. */
const MAX_CACHED_STREAM_HANDLES = 10_000;

/** Handlers' shared state. */
export class ServerContext {
  readonly log: Log;
  readonly basins: BasinCatalog;
  readonly limits: ServerLimits;
  readonly counters = new ServerCounters();
  /** Wall-clock ms (RFC 3339 times and pings). */
  readonly nowMs: () => number;
  /** Appends being handled: a graceful shutdown waits for them. */
  readonly inflight = new Set<Promise<unknown>>();
  /** Set when shutdown starts: new requests are refused with 503 server_draining. */
  draining = false;
  /**
   * Handles of streams known to exist, so that an append does not look the stream up first. A
   * handle resolves its stream by name when used, so a stale one fails with stream_not_found
   * (and a create-on-append basin then creates the stream); deletions through the API drop it.
   */
  readonly #handles = new Map<string, Stream>();
  /** `s2-request-token` of recent creates, by resource: a retried create is answered as done. */
  readonly #createTokens = new Map<string, string>();

  constructor(parts: { log: Log; basins: BasinCatalog; limits: ServerLimits; nowMs: () => number }) {
    this.log = parts.log;
    this.basins = parts.basins;
    this.limits = parts.limits;
    this.nowMs = parts.nowMs;
  }

  /** Tracks an append until it settles, so that shutdown can wait for it. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    const forget = (): void => void this.inflight.delete(work);
    work.then(forget, forget);
    return work;
  }

  /** The basin named by the `s2-basin` header. */
  async basinOf(ex: Exchange): Promise<BasinState> {
    const name = ex.header("s2-basin");
    if (name === undefined) throw new ApiError(400, "bad_header", "the s2-basin header is required for stream routes");
    return this.basins.get(name);
  }

  /**
   * A handle on a stream of a basin for appends or reads: creates it when missing and the
   * basin says so (with the `s2-stream-config` header's config over the basin's default).
   */
  async streamFor(ex: Exchange, basin: BasinState, streamName: string, use: "append" | "read" | "tail"): Promise<Stream> {
    const name = dataStreamName(basin.name, streamName);
    const cached = this.#handles.get(name);
    if (cached !== undefined) return cached;
    const stream = await this.#open(ex, basin, name, use);
    if (this.#handles.size >= MAX_CACHED_STREAM_HANDLES) this.#handles.clear();
    this.#handles.set(name, stream);
    return stream;
  }

  /** Remembers the request token of a create that succeeded. */
  rememberCreate(resource: string, token: string | undefined): void {
    if (token === undefined) return;
    this.#createTokens.delete(resource);
    this.#createTokens.set(resource, token);
    if (this.#createTokens.size > MAX_REMEMBERED_CREATE_TOKENS) this.#createTokens.delete(this.#createTokens.keys().next().value!);
  }

  /** Whether a create of `resource` with this token already succeeded (a client's retry). */
  isRetriedCreate(resource: string, token: string | undefined): boolean {
    return token !== undefined && this.#createTokens.get(resource) === token;
  }

  /** Forgets the handles of deleted streams: every stream whose name starts with `prefix`. */
  forgetStreams(prefix: string): void {
    for (const name of this.#handles.keys()) if (name.startsWith(prefix)) this.#handles.delete(name);
  }

  async #open(ex: Exchange, basin: BasinState, name: string, use: "append" | "read" | "tail"): Promise<Stream> {
    const create = use === "append" ? basin.config.createStreamOnAppend : use === "read" ? basin.config.createStreamOnRead : false;
    if (!create) return this.log.openStream(name);
    const header = ex.header("s2-stream-config");
    let requested: unknown;
    try {
      requested = header === undefined ? undefined : JSON.parse(header);
    } catch {
      throw new ApiError(400, "bad_header", "s2-stream-config is not JSON");
    }
    const config = newStreamConfig(basin.config.defaultStreamConfig, patchFromJson(requested));
    try {
      return await this.log.openStream(name);
    } catch (error) {
      if ((error as { code?: unknown }).code !== "stream_not_found") throw error;
    }
    return this.basins.whileActive(basin.name, () => this.log.openStream(name, { createIfMissing: true, config }));
  }
}
