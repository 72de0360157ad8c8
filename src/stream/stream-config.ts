/**
 * Stream configuration: defaults, reconfiguration, and the stream meta value stored under the
 * `01 name` key (stream-keys.ts).
 *
 * The meta value is UTF-8 JSON, chosen because it is small, read rarely (when a stream is
 * opened or listed) and easy to inspect:
 *
 *   { "v": 1, "id": 7, "createdAtMs": 1767225600000,
 *     "config": { "retention": { "ageSeconds": 604800 },
 *                 "timestamping": { "mode": "client-prefer", "uncapped": false } } }
 *
 * `v` is the meta format version; a decoder refuses versions it does not know. Config fields
 * missing from a stored value take today's defaults (as s2-lite does), so adding a config
 * field later needs no migration.
 */
import { CorruptionError, ValidationError, assert } from "../errors.js";
import { DEFAULT_RETENTION_AGE_SECONDS } from "../limits.js";
import type { StreamConfig, StreamConfigPatch } from "./types.js";
import { checkInteger, validateStreamConfigPatch } from "./validate.js";

/**
 * The config of a stream created without one. Retention is infinite: a durable log does not
 * delete data unless asked to (S2's own default of DEFAULT_RETENTION_AGE_SECONDS is for servers
 * of the S2 API to apply to their basins).
 */
export const DEFAULT_STREAM_CONFIG: Readonly<StreamConfig> = Object.freeze({
  retention: "infinite",
  timestamping: Object.freeze({ mode: "client-prefer", uncapped: false }),
});

/**
 * What a stored meta value (format v1) means by a missing config field: the defaults when v1 was
 * written, 7 days of retention among them. Kept apart from DEFAULT_STREAM_CONFIG so that a
 * change of the library's defaults never changes the meaning of stored bytes.
 */
const META_V1_MISSING_FIELDS: Readonly<StreamConfig> = Object.freeze({
  retention: Object.freeze({ ageSeconds: DEFAULT_RETENTION_AGE_SECONDS }),
  timestamping: Object.freeze({ mode: "client-prefer", uncapped: false }),
});

/** What the `01 name` key holds. */
export interface StreamMeta {
  /** Allocated from the stream-id counter when the stream was created; never reused. */
  id: number;
  config: StreamConfig;
  /** Wall-clock ms when the stream was created. */
  createdAtMs: number;
}

/** The current meta format version. */
export const STREAM_META_V1 = 1;

/** Applies a validated patch: fields it gives replace the config's, the rest stay. */
export function applyConfigPatch(config: StreamConfig, patch: StreamConfigPatch): StreamConfig {
  const retention = patch.retention ?? config.retention;
  return {
    retention: retention === "infinite" ? "infinite" : { ageSeconds: retention.ageSeconds },
    timestamping: { ...config.timestamping, ...definedFields(patch.timestamping ?? {}) },
  };
}

function definedFields<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The full config of a new stream: the defaults with a validated patch applied. */
export function resolveStreamConfig(patch: StreamConfigPatch = {}): StreamConfig {
  return applyConfigPatch(DEFAULT_STREAM_CONFIG, patch);
}

/** How long records live after they are written, in ms; undefined when retention is infinite. */
export function retentionMs(config: StreamConfig): number | undefined {
  return config.retention === "infinite" ? undefined : config.retention.ageSeconds * 1000;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

export function encodeStreamMeta(meta: StreamMeta): Uint8Array {
  assert(Number.isSafeInteger(meta.id) && meta.id >= 1, () => `stream id must be a safe integer >= 1, got ${meta.id}`);
  assert(Number.isSafeInteger(meta.createdAtMs) && meta.createdAtMs >= 0, "createdAtMs must be a safe integer >= 0");
  const { retention, timestamping } = meta.config;
  const config = { retention, timestamping: { mode: timestamping.mode, uncapped: timestamping.uncapped } };
  return utf8.encode(JSON.stringify({ v: STREAM_META_V1, id: meta.id, createdAtMs: meta.createdAtMs, config }));
}

/** Decodes a stream meta value; `name` is the stream's name, for the error message. */
export function decodeStreamMeta(value: Uint8Array, name: string): StreamMeta {
  const what = `meta of stream ${name}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Strict.decode(value));
  } catch (error) {
    throw new CorruptionError(what, "not UTF-8 JSON", { cause: error });
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CorruptionError(what, "not a JSON object");
  }
  const o = parsed as Record<string, unknown>;
  if (o.v !== STREAM_META_V1) throw new CorruptionError(what, `unknown meta format version ${JSON.stringify(o.v)}`);
  try {
    const id = checkInteger(o.id, "id", 1);
    const createdAtMs = checkInteger(o.createdAtMs, "createdAtMs");
    const config = applyConfigPatch(META_V1_MISSING_FIELDS, validateStreamConfigPatch(o.config ?? {}, "config"));
    return { id, config, createdAtMs };
  } catch (error) {
    if (error instanceof ValidationError) throw new CorruptionError(what, error.message, { cause: error });
    throw error;
  }
}
