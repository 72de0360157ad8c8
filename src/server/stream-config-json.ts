/**
 * S2's JSON stream config and the durastream StreamConfig it maps to.
 *
 *   S2 JSON                                   durastream
 *   retention_policy {age: N} | {infinite:{}} retention {ageSeconds: N} | "infinite"
 *   timestamping {mode, uncapped}             timestamping {mode, uncapped}
 *   storage_class "standard" | "express"      accepted; one class here (reported "standard")
 *   delete_on_empty {min_age_secs}            only 0 (off) is accepted
 *
 * A stream created through the server always gets an explicit retention (the basin's default,
 * else S2's 7 days), whatever the library's own default is.
 */
import type { RetentionPolicy, StreamConfig, StreamConfigPatch, TimestampingMode } from "../index.js";
import { invalid } from "./api-error.js";

/** S2's retention when neither the request nor the basin says: 7 days. */
export const S2_DEFAULT_RETENTION_AGE_SECONDS = 7 * 24 * 60 * 60;

const MODES: readonly TimestampingMode[] = ["client-prefer", "client-require", "arrival"];

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A patch from S2 JSON (StreamConfig or StreamReconfiguration); null and missing fields give nothing. */
export function patchFromJson(value: unknown, what = "stream config"): StreamConfigPatch {
  if (value === null || value === undefined) return {};
  if (!isObject(value)) throw invalid(`${what} must be a JSON object`);
  const patch: StreamConfigPatch = {};
  const retention = retentionFromJson(value.retention_policy, what);
  if (retention !== undefined) patch.retention = retention;
  const ts = value.timestamping;
  if (ts !== null && ts !== undefined) {
    if (!isObject(ts)) throw invalid(`${what}.timestamping must be an object`);
    const timestamping: NonNullable<StreamConfigPatch["timestamping"]> = {};
    if (ts.mode !== null && ts.mode !== undefined) {
      if (!MODES.includes(ts.mode as TimestampingMode)) throw invalid(`${what}.timestamping.mode must be one of ${MODES.join(", ")}`);
      timestamping.mode = ts.mode as TimestampingMode;
    }
    if (ts.uncapped !== null && ts.uncapped !== undefined) {
      if (typeof ts.uncapped !== "boolean") throw invalid(`${what}.timestamping.uncapped must be a boolean`);
      timestamping.uncapped = ts.uncapped;
    }
    patch.timestamping = timestamping;
  }
  const storageClass = value.storage_class;
  if (storageClass !== null && storageClass !== undefined && storageClass !== "standard" && storageClass !== "express") {
    throw invalid(`${what}.storage_class must be "standard" or "express"`);
  }
  const doe = value.delete_on_empty;
  if (doe !== null && doe !== undefined) {
    if (!isObject(doe)) throw invalid(`${what}.delete_on_empty must be an object`);
    if (doe.min_age_secs !== null && doe.min_age_secs !== undefined && doe.min_age_secs !== 0) {
      throw invalid(`${what}.delete_on_empty is not supported by durastream serve (only min_age_secs 0)`);
    }
  }
  return patch;
}

function retentionFromJson(value: unknown, what: string): RetentionPolicy | undefined {
  if (value === null || value === undefined) return undefined;
  if (!isObject(value)) throw invalid(`${what}.retention_policy must be {"age": seconds} or {"infinite": {}}`);
  if ("infinite" in value && value.infinite !== null && value.infinite !== undefined) return "infinite";
  const age = value.age;
  if (typeof age !== "number" || !Number.isSafeInteger(age) || age <= 0) throw invalid(`${what}.retention_policy.age must be a whole number of seconds above 0`);
  return { ageSeconds: age };
}

/** Applies `over` on top of `base` (fields of `over` win; timestamping merges field by field). */
export function mergePatches(base: StreamConfigPatch, over: StreamConfigPatch): StreamConfigPatch {
  const out: StreamConfigPatch = { ...base };
  if (over.retention !== undefined) out.retention = over.retention;
  if (over.timestamping !== undefined) out.timestamping = { ...base.timestamping, ...over.timestamping };
  return out;
}

/** The full config a new stream gets: S2's defaults, then the basin's default, then the request's. */
export function newStreamConfig(basinDefault: StreamConfigPatch, request: StreamConfigPatch): StreamConfigPatch {
  const s2Defaults: StreamConfigPatch = { retention: { ageSeconds: S2_DEFAULT_RETENTION_AGE_SECONDS } };
  return mergePatches(mergePatches(s2Defaults, basinDefault), request);
}

/** S2 JSON for a stream's config. */
export function streamConfigJson(config: StreamConfig): Record<string, unknown> {
  return {
    storage_class: "standard",
    retention_policy: config.retention === "infinite" ? { infinite: {} } : { age: config.retention.ageSeconds },
    timestamping: { mode: config.timestamping.mode, uncapped: config.timestamping.uncapped },
    delete_on_empty: { min_age_secs: 0 },
  };
}

/** S2 JSON for a patch (a basin's default stream config), fields it does not set left out. */
export function patchJson(patch: StreamConfigPatch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (patch.retention !== undefined) out.retention_policy = patch.retention === "infinite" ? { infinite: {} } : { age: patch.retention.ageSeconds };
  if (patch.timestamping !== undefined) out.timestamping = { ...patch.timestamping };
  return out;
}
