/**
 * Stream configuration: defaults, reconfiguration, and the stream meta value stored under the
 * `01 name` key (stream-keys.ts).
 *
 * The meta value is read whenever a stream is opened or listed, so since format v2 it is a few
 * fixed binary fields (19 bytes, 27 with an age retention), all integers big-endian:
 *
 *   u8  format version: 2
 *   u8  flags: 0x01 retention is infinite, 0x02 timestamping is uncapped (other bits: corruption)
 *   u8  timestamping mode: 0 client-prefer, 1 client-require, 2 arrival
 *   u64 id, u64 createdAtMs
 *   u64 retention ageSeconds (only when the retention is not infinite)
 *
 * Format v1, which logs written before v2 existed still hold (still decoded, never written),
 * is UTF-8 JSON, told apart by its first byte ('{'):
 *
 *   { "v": 1, "id": 7, "createdAtMs": 1767225600000,
 *     "config": { "retention": { "ageSeconds": 604800 },
 *                 "timestamping": { "mode": "client-prefer", "uncapped": false } } }
 *
 * A decoder refuses versions it does not know. v1 config fields missing from a stored value take
 * the defaults of the time v1 was written (as s2-lite does). A new config field needs a new
 * format version (v2 has no room for one).
 */
import { CorruptionError, ValidationError, assert } from "../errors.js";
import { DEFAULT_RETENTION_AGE_SECONDS, MAX_RETENTION_AGE_SECONDS } from "../limits.js";
import { readU64, writeU64 } from "../util/bytes.js";
import type { StreamConfig, StreamConfigPatch, TimestampingMode } from "./types.js";
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

/** The JSON meta format (decoded, no longer written). */
export const STREAM_META_V1 = 1;
/** The binary meta format, written since v1 (see the file comment). */
export const STREAM_META_V2 = 2;

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

const utf8Strict = new TextDecoder("utf-8", { fatal: true });

const META_V2_FIXED_BYTES = 3 + 8 + 8;
const META_V2_AGE_BYTES = 8;
const META_FLAG_INFINITE = 0x01;
const META_FLAG_UNCAPPED = 0x02;
/** Timestamping modes by their code in a v2 meta value (the index): append only. */
const META_MODES: readonly TimestampingMode[] = ["client-prefer", "client-require", "arrival"];
/** The first byte of a v1 (JSON) meta value. */
const META_V1_FIRST_BYTE = 0x7b;

/** Encodes a stream meta value (format v2, see the file comment). */
export function encodeStreamMeta(meta: StreamMeta): Uint8Array {
  assert(Number.isSafeInteger(meta.id) && meta.id >= 1, () => `stream id must be a safe integer >= 1, got ${meta.id}`);
  assert(Number.isSafeInteger(meta.createdAtMs) && meta.createdAtMs >= 0, "createdAtMs must be a safe integer >= 0");
  const { retention, timestamping } = meta.config;
  const mode = META_MODES.indexOf(timestamping.mode);
  assert(mode >= 0, () => `unknown timestamping mode ${JSON.stringify(timestamping.mode)}`);
  const out = new Uint8Array(META_V2_FIXED_BYTES + (retention === "infinite" ? 0 : META_V2_AGE_BYTES));
  out[0] = STREAM_META_V2;
  out[1] = (retention === "infinite" ? META_FLAG_INFINITE : 0) | (timestamping.uncapped ? META_FLAG_UNCAPPED : 0);
  out[2] = mode;
  writeU64(out, 3, meta.id);
  writeU64(out, 11, meta.createdAtMs);
  if (retention !== "infinite") writeU64(out, META_V2_FIXED_BYTES, retention.ageSeconds);
  return out;
}

/** Decodes a stream meta value of either format; `name` is the stream's name, for the error message. */
export function decodeStreamMeta(value: Uint8Array, name: string): StreamMeta {
  if (value[0] === STREAM_META_V2) return decodeStreamMetaV2(value, name);
  if (value[0] === META_V1_FIRST_BYTE) return decodeStreamMetaV1(value, name);
  throw new CorruptionError(`meta of stream ${name}`, `unknown meta format (first byte ${value[0] ?? "missing"})`);
}

function decodeStreamMetaV2(value: Uint8Array, name: string): StreamMeta {
  const fail = (detail: string): never => {
    throw new CorruptionError(`meta of stream ${name}`, detail);
  };
  const flags = value[1] ?? 0;
  const infinite = (flags & META_FLAG_INFINITE) !== 0;
  if (value.length !== META_V2_FIXED_BYTES + (infinite ? 0 : META_V2_AGE_BYTES)) fail(`${value.length} bytes, not a v2 meta value`);
  if ((flags & ~(META_FLAG_INFINITE | META_FLAG_UNCAPPED)) !== 0) fail(`unknown flags ${flags}`);
  const mode = META_MODES[value[2] as number] ?? fail(`unknown timestamping mode code ${value[2]}`);
  const id = readU64(value, 3);
  const createdAtMs = readU64(value, 11);
  if (id < 1) fail(`bad id`); // -1: not a safe integer
  if (createdAtMs < 0) fail(`bad createdAtMs`);
  let retention: StreamConfig["retention"] = "infinite";
  if (!infinite) {
    const ageSeconds = readU64(value, META_V2_FIXED_BYTES);
    if (ageSeconds < 1 || ageSeconds > MAX_RETENTION_AGE_SECONDS) fail(`bad retention ageSeconds ${ageSeconds}`);
    retention = { ageSeconds };
  }
  return { id, createdAtMs, config: { retention, timestamping: { mode, uncapped: (flags & META_FLAG_UNCAPPED) !== 0 } } };
}

function decodeStreamMetaV1(value: Uint8Array, name: string): StreamMeta {
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
