/**
 * Object keys: the only place the engine builds or parses them.
 *
 *   manifest/<20-digit id>   the full engine state, one object per version, created create-only
 *   wal/<20-digit id>        write-ahead log objects, contiguous ids; some are fences (wal-format.ts)
 *   sst/<20-digit id>        sorted tables (L0 and sorted runs), created create-only
 *   probe/<time>-<nonce>     a writer's check that the store refuses a second create-only put
 *                            (store-probe.ts); deleted right after
 *
 * Twenty digits hold any u64 and make list order equal numeric order.
 */

export const MANIFEST_PREFIX = "manifest/";
export const WAL_PREFIX = "wal/";
export const SST_PREFIX = "sst/";

const ID_DIGITS = 20;

function formatId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new RangeError(`object id ${id} is not a safe non-negative integer`);
  return String(id).padStart(ID_DIGITS, "0");
}

export const manifestKey = (id: number): string => MANIFEST_PREFIX + formatId(id);
export const walKey = (id: number): string => WAL_PREFIX + formatId(id);
export const sstKey = (id: number): string => SST_PREFIX + formatId(id);

/** A key no other writer picks at the same time: the wall time and a random nonce, base 36. */
export const probeKey = (nowMs: number, nonce: number): string => `probe/${Math.floor(nowMs).toString(36)}-${nonce.toString(36)}`;

/** Parses `<prefix><20 digits>`; returns undefined for any other key (foreign objects are ignored). */
export function parseId(prefix: string, key: string): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const digits = key.slice(prefix.length);
  if (digits.length !== ID_DIGITS || !/^[0-9]+$/.test(digits)) return undefined;
  const id = Number(digits);
  return Number.isSafeInteger(id) ? id : undefined;
}
