/**
 * The writer lease: how a writer says "I am alive" on its store root, so that a second writer
 * refuses to fence it by accident (code "writer_active") unless told to take over.
 *
 * Fencing (writer epochs, the WAL fence) is what keeps data safe when two writers do meet; the
 * lease only decides whether opening a writer should go ahead, and it can be wrong in both
 * directions without harm to data: two writers that open at the same moment both pass, and the
 * fence sorts them out as it always did.
 *
 * Layout: one object, WRITER_LEASE_KEY, holding JSON
 *   {"v":1,"token":"<random>","host":"<hostname>","pid":<pid>,"renewedAtMs":<wall ms>,"ttlMs":<ms>}
 * written (unconditionally) when a writer opens and every WRITER_LEASE_RENEW_MS after, and
 * deleted by a clean close (only if it is still this writer's). A read-only log never reads
 * or writes it.
 *
 * Is the writer that wrote it alive?
 *   - same host (a local disk, or S3 used from one machine): its pid runs and the lease was
 *     renewed within its ttl (a pid reused by another program stops renewing); in this very
 *     process, a Log still holds its token. A crashed writer's lease is dead at once.
 *   - another host: renewed within its ttl by the wall clock. A crashed writer's lease dies
 *     after WRITER_LEASE_TTL_MS; clocks that disagree by more than the ttl minus the renewal
 *     period can make a live writer look dead (then fencing protects the data) or a dead one
 *     look alive for longer.
 *
 * Cost: one PUT per WRITER_LEASE_RENEW_MS per writer (on S3, 10 s gives 8,640 PUTs a day, about
 * $1.30 a month at $0.005 per 1,000), one GET per writer open, one GET and one DELETE per close.
 * A renewal that fails is tried again at the next period; it never fails the log. Renewals are
 * compare-and-swap on the etag of the previous one: a writer whose lease another writer replaced
 * (a takeover) stops renewing instead of overwriting its successor's lease.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { NotFoundError, PreconditionFailedError, WriterActiveError } from "./errors.js";
import { WRITER_LEASE_RENEW_MS, WRITER_LEASE_TTL_MS } from "./limits.js";
import { isPidAlive } from "./store/local-locks.js";
import type { ObjectStore } from "./store/object-store.js";
import type { Clock, TimerHandle } from "./util/clock.js";

/** The lease's key in the store. */
export const WRITER_LEASE_KEY = "writer-lease";

const LEASE_FORMAT_V1 = 1;

interface LeaseRecord {
  v: number;
  token: string;
  host: string;
  pid: number;
  renewedAtMs: number;
  ttlMs: number;
}

/** Tokens of the leases that Logs of this process hold: our own pid looks alive only for these. */
const heldTokens = new Set<string>();

const utf8 = new TextEncoder();

/** Throws WriterActiveError when the lease in `store` belongs to a writer that looks alive. */
export async function checkNoActiveWriter(store: ObjectStore, clock: Clock): Promise<void> {
  const lease = await readLease(store);
  if (lease === undefined) return;
  const ageMs = Math.max(0, Math.round(clock.nowMs() - lease.renewedAtMs));
  const fresh = ageMs < lease.ttlMs;
  const sameHost = lease.host === hostname();
  const alive = !fresh ? false : !sameHost ? true : lease.pid === process.pid ? heldTokens.has(lease.token) : isPidAlive(lease.pid);
  if (!alive) return;
  throw new WriterActiveError(`pid ${lease.pid} on host ${JSON.stringify(lease.host)}, lease renewed ${ageMs} ms ago, valid for ${lease.ttlMs} ms`);
}

async function readLease(store: ObjectStore): Promise<LeaseRecord | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(WRITER_LEASE_KEY);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LeaseRecord>;
    const ok =
      value.v === LEASE_FORMAT_V1 && typeof value.token === "string" && typeof value.host === "string" &&
      Number.isSafeInteger(value.pid) && Number.isFinite(value.renewedAtMs) && Number.isFinite(value.ttlMs);
    return ok ? (value as LeaseRecord) : undefined; // an unreadable lease protects nobody: ignore it
  } catch {
    return undefined;
  }
}

/** The lease a writer holds: written at once, renewed on a timer that does not keep the process alive. */
export class WriterLease {
  readonly #store: ObjectStore;
  readonly #clock: Clock;
  readonly #token = randomBytes(12).toString("hex");
  #timer: TimerHandle | undefined;
  /** The etag of our last write of the lease; undefined until one succeeded. */
  #etag: string | undefined;
  #stopped = false;

  private constructor(store: ObjectStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Writes the lease and starts renewing it. A failed first write is tried again at the next period. */
  static async take(store: ObjectStore, clock: Clock): Promise<WriterLease> {
    const lease = new WriterLease(store, clock);
    heldTokens.add(lease.#token);
    await lease.#renew();
    return lease;
  }

  /** Stops renewing; with `release`, deletes the lease if it is still ours (a clean close). */
  async stop(release: boolean): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    heldTokens.delete(this.#token);
    if (!release) return;
    const current = await readLease(this.#store).catch(() => undefined);
    if (current?.token === this.#token) await this.#store.delete(WRITER_LEASE_KEY).catch(() => undefined);
  }

  /**
   * Writes the lease, then schedules the next renewal. Renewals are compare-and-swap on the etag
   * of our last write: when another writer replaced the lease (a takeover), the renewal loses and
   * this lease stops for good, so that a fenced writer never overwrites its successor's lease.
   */
  async #renew(): Promise<void> {
    try {
      await this.#write();
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        this.#stopped = true;
        heldTokens.delete(this.#token);
        return;
      }
      // Anything else: the next period tries again; the log goes on either way.
    }
    this.#schedule();
  }

  async #write(): Promise<void> {
    const record: LeaseRecord = {
      v: LEASE_FORMAT_V1,
      token: this.#token,
      host: hostname(),
      pid: process.pid,
      renewedAtMs: Math.round(this.#clock.nowMs()),
      ttlMs: WRITER_LEASE_TTL_MS,
    };
    const bytes = utf8.encode(JSON.stringify(record));
    const { etag } = await this.#store.put(WRITER_LEASE_KEY, bytes, this.#etag === undefined ? undefined : { ifMatch: this.#etag });
    this.#etag = etag;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(WRITER_LEASE_RENEW_MS, () => void this.#renew());
    this.#timer.unref?.();
  }
}
