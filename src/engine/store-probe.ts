/**
 * Refuses a store that cannot do create-only puts: fencing and every commit point rest on them
 * (a fake S3 server that overwrites silently would lose acknowledged writes with two writers).
 */
import { PreconditionFailedError, UnsupportedError } from "../errors.js";
import type { ObjectStore } from "../store/object-store.js";
import type { Clock } from "../util/clock.js";
import type { Random } from "../util/random.js";
import { probeKey } from "./paths.js";

export async function probeCreateOnly(store: ObjectStore, clock: Pick<Clock, "nowMs">, random: Random): Promise<void> {
  const key = probeKey(clock.nowMs(), random.int(2 ** 32));
  await store.put(key, Buffer.from("first"), { ifNoneMatch: "*" });
  try {
    await store.put(key, Buffer.from("second"), { ifNoneMatch: "*" });
    throw new UnsupportedError(
      `the store ${store.description ?? ""} accepted a second create-only put of the same key; ` +
        `durastream needs real conditional writes (S3 If-None-Match) to fence writers safely`,
    );
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}
