/**
 * S3Store: the ObjectStore contract (src/store/object-store.ts) on S3 or any S3-compatible server,
 * through @aws-sdk/client-s3. Keys are stored under an optional prefix; everything the store
 * returns is relative to it.
 *
 * How the contract maps onto S3:
 *   - get: GetObject, with a Range header for a range. S3 cannot express an empty range, answers
 *     416 for a start at or past the end, and silently shortens a range that runs past the end, so
 *     empty ranges are answered with a HEAD, a 416 is checked against the size (a start exactly at
 *     the end is a valid empty read) and a short body is an InvalidRangeError.
 *   - put: PutObject; create-only is `If-None-Match: *`, compare-and-swap is `If-Match`. The
 *     If-Match value is sent without quotes: Ceph RGW (and DigitalOcean Spaces) refuse a quoted
 *     current etag with 412, and AWS ignores the quoting. Returned etags carry no quotes.
 *     A lost condition is 412, 409 ConditionalRequestConflict, or for If-Match a 404/NoSuchKey
 *     (AWS on a missing key; RGW says 412).
 *   - list: ListObjectsV2 pages (1000 keys each) chained by ContinuationToken, with StartAfter.
 *   - delete: DeleteObject, which S3 already treats as idempotent.
 *
 * Ambiguous writes. A 5xx, a timeout or a dropped connection on a PUT does not say whether the
 * object was written, and neither does a 412 that follows the SDK's retry of such a failure (the
 * retry may have collided with our own first attempt). Every PUT therefore carries a random
 * put-id in its metadata (x-amz-meta-durastream-put-id); when the outcome is ambiguous the store
 * HEADs the key: our put-id means the write is ours and durable; another writer's object that
 * breaks the condition means the put lost; an object that still satisfies the condition means
 * nothing was decided, so the same request (same put-id) is sent once more, and if that is
 * ambiguous too the caller gets StorageError with outcome "unknown". The store never reports
 * success it did not see and never reports a lost race it cannot show.
 *
 * Credentials come from the SDK's default chain unless given; they never appear in errors.
 */
import { randomUUID } from "node:crypto";
import type { HeadObjectCommandOutput, ListObjectsV2CommandOutput, S3Client, S3ClientConfig } from "@aws-sdk/client-s3";
import {
  DurastreamError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  PreconditionFailedError,
  StorageError,
  ValidationError,
} from "../errors.js";
import { checkKey, checkRangeShape } from "./keys.js";
import {
  type ByteRange,
  type ListEntry,
  type ListOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutCondition,
  type PutResult,
} from "./object-store.js";
import { DEFAULT_S3_FLUSH_INTERVAL_MS, DEFAULT_S3_MAX_ATTEMPTS, DEFAULT_S3_REQUEST_TIMEOUT_MS, MAX_S3_PUT_ROUNDS, MAX_OBJECT_KEY_BYTES, S3_ERROR_DETAIL_MAX_CHARS } from "../limits.js";

/** Options of `new S3Store(options)`. */
export interface S3StoreOptions {
  /** The bucket (it must exist: see `ensureBucket()`). */
  bucket: string;
  /** Key prefix inside the bucket; a trailing "/" is added when missing. Default: none. */
  prefix?: string;
  /** A client to use as is (the store will not destroy it). The options below are then ignored. */
  client?: S3Client;
  /** Endpoint URL of an S3-compatible server, e.g. "http://127.0.0.1:7480". Default: AWS. */
  endpoint?: string;
  /** Default: the SDK's region chain (AWS_REGION, config files). */
  region?: string;
  /** Default: the SDK's credential chain (environment, config files, instance roles). */
  credentials?: {
    /** The access key id. */
    accessKeyId: string;
    /** The secret access key. */
    secretAccessKey: string;
    /** A session token, for temporary credentials. */
    sessionToken?: string;
  };
  /** Path-style URLs (needed by most self-hosted servers). Default: false (virtual-host style). */
  forcePathStyle?: boolean;
  /**
   * Bound on one HTTP attempt until its response headers arrive, and on any idle gap while the
   * body streams. Default 30000 ms: long enough for a 16 MiB object on a slow link, short enough
   * that a hung connection ends within a flush deadline.
   */
  requestTimeoutMs?: number;
  /** SDK attempts per request, retries of throttling, 5xx and network errors included. Default 3. */
  maxAttempts?: number;
}

/** Metadata key of the put-id; S3 sends it as the header x-amz-meta-durastream-put-id. */
const PUT_ID_METADATA_KEY = "durastream-put-id";

/** What one PutObject round gave: an etag, a definite error, or a reason to look at the key. */
type PutRound = { kind: "written"; etag: string } | { kind: "failed"; error: DurastreamError } | { kind: "ambiguous"; cause: unknown };

/** What a HEAD after an ambiguous put showed. */
type PutVerdict = { kind: "ours"; etag: string } | { kind: "lost"; detail: string } | { kind: "undecided"; detail: string };

export class S3Store implements ObjectStore {
  readonly description: string;
  /** Every PUT is billed: 50 ms is at most 20 WAL PUTs a second (limits.ts). */
  readonly preferredFlushIntervalMs = DEFAULT_S3_FLUSH_INTERVAL_MS;
  readonly #options: S3StoreOptions;
  /** The SDK client, created on first use (the SDK module loads only when an S3 store is used). */
  #loadingClient: Promise<S3Client> | undefined;
  readonly #ownsClient: boolean;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(options: S3StoreOptions) {
    if (typeof options.bucket !== "string" || options.bucket.length === 0) {
      throw new ValidationError("S3Store needs a bucket name (options.bucket)");
    }
    this.#bucket = options.bucket;
    this.#prefix = normalisePrefix(options.prefix);
    this.#ownsClient = options.client === undefined;
    this.#options = options;
    if (options.client !== undefined) this.#loadingClient = Promise.resolve(options.client);
    this.description = `s3://${this.#bucket}/${this.#prefix}`;
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const fullKey = this.#fullKey(key);
    if (range !== undefined) checkRangeShape(key, range);
    if (range === undefined || (range.offset === 0 && range.length === undefined)) {
      return this.#getObject(key, fullKey, undefined);
    }
    if (range.length === 0) return this.#getEmptyRange(key, range.offset);
    const end = range.length === undefined ? "" : String(range.offset + range.length - 1);
    try {
      const bytes = await this.#getObject(key, fullKey, `bytes=${range.offset}-${end}`);
      if (range.length !== undefined && bytes.length !== range.length) {
        throw new InvalidRangeError(key, `asked for ${range.length} bytes at ${range.offset}, the object ends after ${bytes.length}`);
      }
      return bytes;
    } catch (error) {
      if (statusOf(error) !== 416) throw error;
      // A start exactly at the end is a valid empty read; S3 calls every start >= size unsatisfiable.
      if (range.length === undefined) return this.#getEmptyRange(key, range.offset);
      throw new InvalidRangeError(key, `asked for bytes [${range.offset}, ${range.offset + range.length}) past the end`);
    }
  }

  async head(key: string): Promise<ObjectInfo> {
    const output = await this.#headObject(key, this.#fullKey(key));
    return { size: output.ContentLength ?? 0, etag: stripQuotes(output.ETag ?? "") };
  }

  async put(key: string, body: Uint8Array, condition?: PutCondition): Promise<PutResult> {
    const fullKey = this.#fullKey(key);
    const putId = randomUUID();
    let lastDetail = "";
    let lastCause: unknown;
    for (let round = 1; round <= MAX_S3_PUT_ROUNDS; round++) {
      const result = await this.#putRound({ key, fullKey, body, condition, putId, round });
      if (result.kind === "written") return { etag: result.etag };
      if (result.kind === "failed") throw result.error;
      const verdict = await this.#judgePut(key, fullKey, putId, condition, result.cause);
      if (verdict.kind === "ours") return { etag: verdict.etag };
      if (verdict.kind === "lost") throw new PreconditionFailedError(key, verdict.detail, { cause: result.cause });
      lastDetail = verdict.detail;
      lastCause = result.cause;
    }
    throw new StorageError(
      `put of ${JSON.stringify(key)} in ${this.description} has an unknown outcome after ${MAX_S3_PUT_ROUNDS} tries ` +
        `(${describeError(lastCause)}; ${lastDetail}); read the key to find out whether it was written`,
      { retryable: true, outcome: "unknown", cause: lastCause },
    );
  }

  async delete(key: string): Promise<void> {
    const fullKey = this.#fullKey(key);
    try {
      const { sdk, client } = await this.#connect();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.#bucket, Key: fullKey }));
    } catch (error) {
      // S3 answers 204 for a missing key; some servers say 404. A missing bucket is still an error.
      if (isNotFound(error)) return;
      throw this.#storageError("delete", key, error, "unknown");
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    let token: string | undefined;
    let previous = options.startAfter === undefined ? undefined : this.#prefix + options.startAfter;
    do {
      const page = await this.#listPage(this.#prefix + prefix, previous, token);
      for (const entry of page.entries) {
        if (previous !== undefined && compareUtf8(entry.key, previous) <= 0) {
          throw new StorageError(`${this.description} listed ${JSON.stringify(entry.key)} out of key order`, { retryable: true });
        }
        previous = entry.key;
        yield { key: entry.key.slice(this.#prefix.length), size: entry.size };
      }
      token = page.nextToken;
    } while (token !== undefined);
  }

  async close(): Promise<void> {
    if (this.#ownsClient) (await this.#loadingClient?.catch(() => undefined))?.destroy();
  }

  /** The SDK module and this store's client, both loaded on first use. */
  async #connect(): Promise<{ sdk: S3Sdk; client: S3Client }> {
    this.#loadingClient ??= createClient(this.#options);
    const [sdk, client] = await Promise.all([loadSdk(), this.#loadingClient]);
    return { sdk, client };
  }

  // ---- get and head -------------------------------------------------------------------------

  async #getObject(key: string, fullKey: string, rangeHeader: string | undefined): Promise<Uint8Array> {
    try {
      const { sdk, client } = await this.#connect();
      const output = await client.send(new sdk.GetObjectCommand({ Bucket: this.#bucket, Key: fullKey, Range: rangeHeader }));
      if (output.Body === undefined) throw new Error("the response has no body");
      const bytes = await output.Body.transformToByteArray();
      // A connection cut mid-body must not pass for a short object.
      if (output.ContentLength !== undefined && bytes.length !== output.ContentLength) {
        throw new Error(`the body ended after ${bytes.length} of ${output.ContentLength} bytes`);
      }
      return bytes;
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(key, { cause: error });
      if (statusOf(error) === 416) throw error; // decided by get(), which knows the range
      throw this.#storageError("get", key, error, undefined);
    }
  }

  async #getEmptyRange(key: string, offset: number): Promise<Uint8Array> {
    const { size } = await this.head(key);
    if (offset > size) throw new InvalidRangeError(key, `offset ${offset} is past the end of an object of ${size} bytes`);
    return new Uint8Array(0);
  }

  async #headObject(key: string, fullKey: string): Promise<HeadObjectCommandOutput> {
    try {
      const { sdk, client } = await this.#connect();
      return await client.send(new sdk.HeadObjectCommand({ Bucket: this.#bucket, Key: fullKey }));
    } catch (error) {
      if (isNotFound(error)) throw new NotFoundError(key, { cause: error });
      throw this.#storageError("head", key, error, undefined);
    }
  }

  // ---- put ----------------------------------------------------------------------------------

  async #putRound(request: {
    key: string;
    fullKey: string;
    body: Uint8Array;
    condition: PutCondition | undefined;
    putId: string;
    round: number;
  }): Promise<PutRound> {
    const { key, fullKey, body, condition, putId, round } = request;
    try {
      const { sdk, client } = await this.#connect();
      const output = await client.send(
        new sdk.PutObjectCommand({
          Bucket: this.#bucket,
          Key: fullKey,
          Body: body,
          ContentLength: body.length,
          Metadata: { [PUT_ID_METADATA_KEY]: putId },
          IfNoneMatch: condition !== undefined && "ifNoneMatch" in condition ? "*" : undefined,
          IfMatch: condition !== undefined && "ifMatch" in condition ? stripQuotes(condition.ifMatch) : undefined,
        }),
      );
      if (output.ETag === undefined) return { kind: "ambiguous", cause: new Error("the PUT response has no ETag") };
      return { kind: "written", etag: stripQuotes(output.ETag) };
    } catch (error) {
      return this.#classifyPutError(key, condition, error, round);
    }
  }

  #classifyPutError(key: string, condition: PutCondition | undefined, error: unknown, round: number): PutRound {
    const status = statusOf(error);
    if (status === undefined && configurationProblem(error) !== undefined) {
      // The SDK refused to build the request (no region, no credentials, a bad endpoint): nothing was sent.
      return { kind: "failed", error: this.#storageError("put", key, error, "not_applied") };
    }
    if (condition !== undefined && isConditionFailure(error, condition)) {
      // Only the first request of a put can prove it lost: a later one may have met our own object.
      if (round === 1 && attemptsOf(error) <= 1) {
        return { kind: "failed", error: new PreconditionFailedError(key, describeCondition(condition), { cause: error }) };
      }
      return { kind: "ambiguous", cause: error };
    }
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      // The server refused the request (auth, bad request): not written, unless an earlier attempt was.
      const certain = round === 1 && attemptsOf(error) <= 1;
      return { kind: "failed", error: this.#storageError("put", key, error, certain ? "not_applied" : "unknown") };
    }
    return { kind: "ambiguous", cause: error };
  }

  /** Decides an ambiguous put by the object now at the key (see the file header). */
  async #judgePut(key: string, fullKey: string, putId: string, condition: PutCondition | undefined, cause: unknown): Promise<PutVerdict> {
    let current: HeadObjectCommandOutput | undefined;
    try {
      current = await this.#headObject(key, fullKey);
    } catch (error) {
      if (!(error instanceof NotFoundError)) {
        throw new StorageError(
          `put of ${JSON.stringify(key)} in ${this.description} has an unknown outcome (${describeError(cause)}), ` +
            `and reading the key back failed too (${describeError(error)})`,
          { retryable: true, outcome: "unknown", cause },
        );
      }
    }
    if (current !== undefined && current.Metadata?.[PUT_ID_METADATA_KEY] === putId) {
      return { kind: "ours", etag: stripQuotes(current.ETag ?? "") };
    }
    return judgeOthers(condition, current === undefined ? undefined : stripQuotes(current.ETag ?? ""));
  }

  // ---- list ---------------------------------------------------------------------------------

  async #listPage(
    fullPrefix: string,
    startAfter: string | undefined,
    token: string | undefined,
  ): Promise<{ entries: { key: string; size: number }[]; nextToken: string | undefined }> {
    let output: ListObjectsV2CommandOutput;
    try {
      const { sdk, client } = await this.#connect();
      output = await client.send(
        new sdk.ListObjectsV2Command({
          Bucket: this.#bucket,
          Prefix: fullPrefix,
          // StartAfter only matters on the first page; later pages follow the token.
          StartAfter: token === undefined ? startAfter : undefined,
          ContinuationToken: token,
          // XML cannot carry every character a key may hold (control characters), so ask for
          // URL-encoded keys and decode them when the server says it encoded them.
          EncodingType: "url",
        }),
      );
    } catch (error) {
      throw this.#storageError("list", fullPrefix.slice(this.#prefix.length), error, undefined);
    }
    const encoded = output.EncodingType === "url";
    const entries = (output.Contents ?? []).map((object) => ({
      key: encoded ? decodeListedKey(object.Key ?? "") : (object.Key ?? ""),
      size: object.Size ?? 0,
    }));
    const nextToken = output.IsTruncated === true ? output.NextContinuationToken : undefined;
    if (output.IsTruncated === true && nextToken === undefined) {
      throw new StorageError(`${this.description} returned a truncated list page without a continuation token`);
    }
    return { entries, nextToken };
  }

  // ---- helpers ------------------------------------------------------------------------------

  #fullKey(key: string): string {
    checkKey(key);
    const fullKey = this.#prefix + key;
    if (Buffer.byteLength(fullKey, "utf8") > MAX_OBJECT_KEY_BYTES) {
      throw new InvalidKeyError(key, `with the prefix ${JSON.stringify(this.#prefix)} the key exceeds ${MAX_OBJECT_KEY_BYTES} UTF-8 bytes`);
    }
    return fullKey;
  }

  #storageError(operation: string, key: string, error: unknown, outcome: "unknown" | "not_applied" | undefined): StorageError {
    const configuration = configurationProblem(error);
    const status = statusOf(error);
    const retryable = configuration === undefined && (status === undefined || status >= 500 || status === 408 || status === 429);
    return new StorageError(
      `${operation} of ${JSON.stringify(key)} in ${this.description} failed: ${describeError(error)}` +
        (configuration !== undefined ? `; ${configuration}, which no retry fixes` : retryable ? "; the store may be unreachable or overloaded, retry later" : ""),
      { retryable, outcome, cause: error },
    );
  }
}

/**
 * Creates `options.bucket` when it does not exist yet (tests and first-time setup). An existing
 * bucket, whoever created it, is left as it is.
 */
export async function ensureBucket(options: S3StoreOptions): Promise<void> {
  const sdk = await loadSdk();
  const client = options.client ?? (await createClient(options));
  try {
    try {
      await client.send(new sdk.HeadBucketCommand({ Bucket: options.bucket }));
      return;
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
    try {
      await client.send(new sdk.CreateBucketCommand({ Bucket: options.bucket }));
    } catch (error) {
      if (errorName(error) !== "BucketAlreadyOwnedByYou") throw error;
    }
  } catch (error) {
    throw new StorageError(`could not create bucket s3://${options.bucket}: ${describeError(error)}`, { cause: error });
  } finally {
    if (options.client === undefined) client.destroy();
  }
}

type S3Sdk = typeof import("@aws-sdk/client-s3");

let loadingSdk: Promise<S3Sdk> | undefined;

/**
 * The AWS SDK, imported on first use: loading it takes about 100 ms (and prints a Node version
 * warning on Node 20), which a program that never opens an S3 store should not pay.
 */
function loadSdk(): Promise<S3Sdk> {
  loadingSdk ??= import("@aws-sdk/client-s3");
  return loadingSdk;
}

async function createClient(options: S3StoreOptions): Promise<S3Client> {
  const { S3Client } = await loadSdk();
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_S3_REQUEST_TIMEOUT_MS;
  const config: S3ClientConfig = {
    maxAttempts: options.maxAttempts ?? DEFAULT_S3_MAX_ATTEMPTS,
    forcePathStyle: options.forcePathStyle ?? false,
    // requestTimeout only throws with throwOnRequestTimeout; socketTimeout bounds a stalled body.
    requestHandler: {
      connectionTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
      socketTimeout: timeoutMs,
    },
  };
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.region !== undefined) config.region = options.region;
  if (options.credentials !== undefined) config.credentials = options.credentials;
  return new S3Client(config);
}

/** Judges an ambiguous put by another writer's object (or none) at the key. */
function judgeOthers(condition: PutCondition | undefined, currentEtag: string | undefined): PutVerdict {
  if (condition === undefined) {
    return { kind: "undecided", detail: currentEtag === undefined ? "the key is missing" : "another writer's object is there" };
  }
  if ("ifNoneMatch" in condition) {
    // Create-only objects are never replaced, so another writer's object means that writer won.
    return currentEtag === undefined
      ? { kind: "undecided", detail: "the key is still missing" }
      : { kind: "lost", detail: "the key already exists (written by another writer)" };
  }
  const wanted = stripQuotes(condition.ifMatch);
  if (currentEtag === undefined) return { kind: "lost", detail: "the key does not exist" };
  // An etag that moved to another writer's object means the swap lost (had ours landed first, that
  // writer would have swapped from our etag: it built on our write, which is then not lost either).
  return currentEtag === wanted
    ? { kind: "undecided", detail: "the object still has the expected etag" }
    : { kind: "lost", detail: "the etag has changed (another writer's object is there)" };
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "") return "";
  return prefix.endsWith("/") ? prefix : `${prefix}/`;
}

function stripQuotes(etag: string): string {
  return etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"') ? etag.slice(1, -1) : etag;
}

/** Keys in an `encoding-type=url` listing: AWS writes a space as "+", Ceph as "%20"; "+" itself is "%2B". */
function decodeListedKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, " "));
}

function describeCondition(condition: PutCondition): string {
  return "ifNoneMatch" in condition ? "the key already exists" : "the object is missing or its etag has changed";
}

/** The SDK's error fields, read without trusting the shape of an unknown value. */
interface SdkErrorShape {
  name?: unknown;
  message?: unknown;
  Code?: unknown;
  $metadata?: { httpStatusCode?: unknown; attempts?: unknown };
}

function statusOf(error: unknown): number | undefined {
  const status = (error as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

function attemptsOf(error: unknown): number {
  const attempts = (error as SdkErrorShape | undefined)?.$metadata?.attempts;
  return typeof attempts === "number" ? attempts : 1;
}

function errorName(error: unknown): string {
  const shape = error as SdkErrorShape | undefined;
  if (typeof shape?.Code === "string") return shape.Code;
  return typeof shape?.name === "string" ? shape.name : "Error";
}

/**
 * What is wrong with the store's configuration, when the error says so: the SDK finds no region
 * or no credentials, the endpoint is not a URL, the credentials are refused, the bucket does not
 * exist. Such errors fail at once instead of being retried for `storeRetryDeadlineMs` like an
 * outage; undefined for every other error (network errors included: an unknown host may be a
 * DNS outage).
 */
function configurationProblem(error: unknown): string | undefined {
  const name = errorName(error);
  const message = String((error as SdkErrorShape | undefined)?.message ?? "");
  const code = (error as { code?: unknown } | undefined)?.code;
  if (/region is missing/i.test(message)) return "no region is configured (set AWS_REGION or the region option)";
  if (name === "CredentialsProviderError" || /could not load credentials/i.test(message)) {
    return "no credentials were found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or the credentials option)";
  }
  if (code === "ERR_INVALID_URL" || /invalid url/i.test(message)) return "the endpoint is not a valid URL";
  if (name === "NoSuchBucket") return "the bucket does not exist";
  if (["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"].includes(name)) {
    return "the credentials were refused";
  }
  const status = statusOf(error);
  if (status === 401 || status === 403) return "access was denied";
  return undefined;
}

/** A missing key. A missing bucket is not one (except on HEAD, where S3 sends no error code). */
function isNotFound(error: unknown): boolean {
  const name = errorName(error);
  if (name === "NoSuchBucket") return false;
  return statusOf(error) === 404 || name === "NoSuchKey" || name === "NotFound";
}

/** S3 lists in UTF-8 byte order (the same as UTF-16 order for the ASCII keys durastream writes). */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function isConditionFailure(error: unknown, condition: PutCondition): boolean {
  const status = statusOf(error);
  const name = errorName(error);
  if (status === 412 || name === "PreconditionFailed") return true;
  if (status === 409 && name === "ConditionalRequestConflict") return true;
  return "ifMatch" in condition && isNotFound(error);
}

/** "PreconditionFailed (HTTP 412)", or a network error's name and message. Never a credential. */
function describeError(error: unknown): string {
  if (error instanceof DurastreamError) return error.message;
  const status = statusOf(error);
  const message = (error as SdkErrorShape | undefined)?.message;
  const text = typeof message === "string" && message.length > 0 ? `: ${message.slice(0, S3_ERROR_DETAIL_MAX_CHARS)}` : "";
  return `${errorName(error)}${status === undefined ? "" : ` (HTTP ${status})`}${text}`;
}
