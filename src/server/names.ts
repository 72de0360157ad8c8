/**
 * How S2 names map onto the streams of the one durastream Log behind the server.
 *
 *   S2 stream `s` of basin `b`   ->  durastream stream `b/s`
 *   basin `b` itself             ->  durastream stream `_basin/b` (its config records, see basins.ts)
 *
 * A basin name has only lowercase letters, digits and hyphens, so `b/` never collides with
 * another basin's prefix, and `_basin/` (the underscore is never in a basin name) never with a
 * basin's streams. Listing a basin's streams is a prefix scan of `b/`; listing basins a prefix
 * scan of `_basin/`. The Log caps a stream name at 512 UTF-8 bytes, so an S2 stream name may
 * have at most 512 - 1 - (basin name bytes) of them here.
 */
import { MAX_STREAM_NAME_BYTES } from "../index.js";
import { ApiError } from "./api-error.js";

/** Prefix of the durastream streams that hold basin configs. */
export const BASIN_META_PREFIX = "_basin/";

const BASIN_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** S2's basin name length bounds, in bytes. */
export const MIN_BASIN_NAME_BYTES = 8;
export const MAX_BASIN_NAME_BYTES = 48;

/** Checks an S2 basin name (8..48 of a-z 0-9 -, not starting or ending with -). */
export function validateBasinName(name: unknown): string {
  if (typeof name !== "string") throw new ApiError(422, "invalid", "basin name must be a string");
  if (name.length < MIN_BASIN_NAME_BYTES || name.length > MAX_BASIN_NAME_BYTES) {
    throw new ApiError(422, "invalid", `basin name ${JSON.stringify(name)} must be ${MIN_BASIN_NAME_BYTES} to ${MAX_BASIN_NAME_BYTES} bytes`);
  }
  if (!BASIN_NAME.test(name)) {
    throw new ApiError(422, "invalid", `basin name ${JSON.stringify(name)} may contain only lowercase letters, digits and hyphens, and must not start or end with a hyphen`);
  }
  return name;
}

/** Checks an S2 stream name of a basin and returns the durastream stream name it maps to. */
export function dataStreamName(basin: string, stream: unknown): string {
  if (typeof stream !== "string" || stream.length === 0) throw new ApiError(422, "invalid", "stream name must be a non-empty string");
  const maxBytes = MAX_STREAM_NAME_BYTES - basin.length - 1;
  const bytes = Buffer.byteLength(stream, "utf8");
  if (bytes > maxBytes) {
    throw new ApiError(422, "invalid", `stream name is ${bytes} UTF-8 bytes; in basin ${JSON.stringify(basin)} at most ${maxBytes} (512 minus the basin name and one)`);
  }
  return `${basin}/${stream}`;
}

/** The prefix of every durastream stream of a basin. */
export function basinStreamPrefix(basin: string): string {
  return `${basin}/`;
}

/** The durastream stream holding a basin's config records. */
export function basinMetaStreamName(basin: string): string {
  return `${BASIN_META_PREFIX}${basin}`;
}
