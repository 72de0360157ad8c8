/**
 * Store URLs: turns "memory://", "file://..." and "s3://..." into an ObjectStore, so that
 * `openLog("file://./data")` and friends need no store import.
 *
 * `parseStoreUrl` does all the parsing and checking and returns a tagged union; `openStore` is a
 * thin switch over it that builds the store. Accepted forms (ACCEPTED_STORE_URLS):
 *
 *   memory://              a new, empty MemoryStore (nothing shared, nothing kept)
 *   memory://<name>        the process-wide MemoryStore called <name>: every open of the same
 *                          name returns the same instance, so two logs (or a reopen after
 *                          close) see the same data, as two processes would see one directory.
 *                          It lives until the process exits or `dropNamedMemoryStore(name)`.
 *   file:///abs/path       LocalStore rooted at /abs/path (percent escapes decoded, as in any
 *                          file URL; `pathToFileURL(dir).href` round-trips)
 *   file://./rel, file://../rel
 *                          LocalStore rooted at rel, resolved against process.cwd() (or the
 *                          `cwd` option) when the URL is opened. A relative path always starts
 *                          with "./" or "../": in `file://data/x`, RFC 8089 reads "data" as a
 *                          host name, so that form is refused with both readings spelled out
 *                          (`file://localhost/abs` is the one host accepted, as `file:///abs`).
 *   s3://bucket[/prefix]   S3Store on that bucket, keys under prefix. Endpoint, region and path
 *                          style come from the options, else from the environment:
 *                          S3_ENDPOINT | AWS_ENDPOINT_URL_S3 | AWS_ENDPOINT_URL,
 *                          AWS_REGION | AWS_DEFAULT_REGION, S3_FORCE_PATH_STYLE (true/false/1/0).
 *                          Credentials come from the options, else the AWS SDK's default chain.
 *
 * Anything else is a ValidationError that lists these forms. Messages never repeat credentials:
 * a URL is shown with any "user:password@" removed, and credentials are never put in a URL.
 */
import { stat } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NotFoundError, ValidationError } from "../errors.js";
import { LocalStore } from "./local-store.js";
import { MemoryStore } from "./memory-store.js";
import { localRootOf, type ObjectStore } from "./object-store.js";
import { S3Store } from "./s3-store.js";

export const ACCEPTED_STORE_URLS =
  "memory://, memory://<name>, file:///absolute/path, file://./relative/path, s3://bucket or s3://bucket/prefix";

/** A store URL taken apart by `parseStoreUrl()`, one variant per scheme. */
export type ParsedStoreUrl =
  | {
      /** `memory://` or `memory://<name>`. */
      scheme: "memory";
      /** undefined: a new anonymous store. */
      name: string | undefined;
    }
  | {
      /** `file://...`. */
      scheme: "file";
      /** Absolute, normalised. */
      root: string;
    }
  | {
      /** `s3://bucket[/prefix]`. */
      scheme: "s3";
      /** The bucket name. */
      bucket: string;
      /** Without leading or trailing "/"; undefined when empty. */
      prefix: string | undefined;
    };

/** S3 credentials, when not taken from the AWS SDK's default chain. */
export interface S3Credentials {
  /** The access key id. */
  accessKeyId: string;
  /** The secret access key. */
  secretAccessKey: string;
  /** A session token, for temporary credentials. */
  sessionToken?: string;
}

/** Options of `openStore()` (and `LogOptions.storeOptions`): where relative paths start and how S3 is reached. */
export interface OpenStoreOptions {
  /** Base for relative file:// URLs. Default: process.cwd() at the call. */
  cwd?: string;
  /** s3:// only. Default: S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL; else AWS's endpoint. */
  endpoint?: string;
  /** s3:// only. Default: AWS_REGION, then AWS_DEFAULT_REGION; else the SDK's default. */
  region?: string;
  /** s3:// only. Default: the SDK's default credential chain (environment, profile, instance role). */
  credentials?: S3Credentials;
  /** s3:// only. Path-style addressing (most S3-compatible servers need it). Default: S3_FORCE_PATH_STYLE, else unset. */
  forcePathStyle?: boolean;
  /** Where the S3 defaults above are read from. Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The S3Store settings a URL and the options/environment produce (no credentials). */
export interface S3Settings {
  bucket: string;
  prefix?: string;
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
}

/** Opens the store a URL names. Throws ValidationError for a URL it does not accept. */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const parsed = parseStoreUrl(url, options.cwd);
  switch (parsed.scheme) {
    case "memory":
      return parsed.name === undefined ? new MemoryStore() : namedMemoryStore(parsed.name);
    case "file":
      return new LocalStore(parsed.root);
    case "s3": {
      const settings = s3Settings(parsed, options);
      return new S3Store(options.credentials === undefined ? settings : { ...settings, credentials: options.credentials });
    }
  }
}

/**
 * For whatever only reads (read-only logs, `inspectStore`, the CLI's reading commands): a local
 * store's root must exist. A missing directory is a typo far more often than an empty log, so it
 * is NotFoundError rather than "no streams"; a writer creates the root, as it always did. Other
 * stores have no root to miss (an S3 prefix exists as soon as one object is under it).
 */
export async function checkStoreRootExists(store: ObjectStore): Promise<void> {
  // A LocalStore's root, or the root of the LocalStore a wrapper forwards (ObjectStore.localStore, localRoot).
  const root = localRootOf(store);
  if (root === undefined) return;
  const info = await stat(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
    throw error;
  });
  if (info?.isDirectory() === true) return;
  throw new NotFoundError(root, {
    message: `store root ${root} ${info === undefined ? "does not exist" : "is not a directory"}; reading needs an existing log (a writer creates the directory)`,
  });
}

/** The methods every ObjectStore has (`close` is optional). */
const OBJECT_STORE_METHODS = ["get", "head", "put", "delete", "list"] as const;

/**
 * Checks up front that `store` (given to `caller`: "openLog", "inspectStore") is an ObjectStore,
 * naming what is missing, instead of a TypeError deep inside later.
 */
export function checkObjectStore(store: unknown, caller: string): asserts store is ObjectStore {
  if (store === null || store === undefined || typeof store !== "object") {
    throw new ValidationError(`${caller}: \`store\` must be an ObjectStore or a store URL (file:///abs/path, file://./rel, s3://bucket/prefix, memory://)`);
  }
  const missing: string[] = OBJECT_STORE_METHODS.filter((name) => typeof (store as Record<string, unknown>)[name] !== "function");
  const close = (store as Record<string, unknown>).close;
  if (close !== undefined && typeof close !== "function") missing.push("close");
  if (missing.length > 0) {
    throw new ValidationError(`${caller}: \`store\` is not an ObjectStore: it has no ${missing.map((name) => `${name}()`).join(", ")} method${missing.length > 1 ? "s" : ""}`);
  }
  checkForwardedLocalStore(store as ObjectStore, caller);
}

/** A store's `localStore`, when given, is a LocalStore, and its `localRoot`, when also given, that LocalStore's root (ObjectStore.localStore). */
function checkForwardedLocalStore(store: ObjectStore, caller: string): void {
  const local: unknown = store.localStore;
  if (local === undefined) return;
  if (!(local instanceof LocalStore)) throw new ValidationError(`${caller}: \`store.localStore\` must be a LocalStore (or undefined), not ${local === null ? "null" : typeof local}`);
  if (store.localRoot !== undefined && store.localRoot !== local.root) {
    throw new ValidationError(`${caller}: \`store.localRoot\` (${store.localRoot}) is not the root of its \`localStore\` (${local.root}); forward one LocalStore, or leave localRoot out`);
  }
}

/** Parses and checks a store URL without opening anything. */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): ParsedStoreUrl {
  if (typeof url !== "string") throw invalid(String(url), "a store URL must be a string");
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/s.exec(url);
  if (match === null) throw invalid(url, noSchemeAdvice(url));
  const scheme = (match[1] as string).toLowerCase();
  const rest = match[2] as string;
  if (scheme === "memory") return parseMemory(url, rest);
  if (scheme === "file") return parseFile(url, rest, cwd);
  if (scheme === "s3") return parseS3(url, rest);
  throw invalid(url, `unknown scheme "${scheme}:"`);
}

/** What to say about a URL without "scheme://": a known scheme with one slash or none, or a bare path. */
function noSchemeAdvice(url: string): string {
  const known = /^(memory|file|s3):(?!\/\/)(.*)$/is.exec(url);
  if (known !== null) {
    const scheme = known[1]!.toLowerCase();
    const rest = known[2]!;
    const fix =
      scheme === "memory" ? `memory://${rest.replace(/^\/+/, "")}`
      : scheme === "s3" ? `s3://${rest.replace(/^\/+/, "")}`
      : rest.startsWith("/") ? `file://${rest}`
      : fileUrlHint(rest);
    return `"${scheme}:" must be followed by "//"; write ${fix}`;
  }
  if (url === "" || url.includes("://") || url.includes("@")) return "it has no scheme";
  return `it has no scheme; for a directory write ${fileUrlHint(url)}`;
}

function fileUrlHint(path: string): string {
  return /^(\/|\.\.?\/)/.test(path) ? `file://${path}` : `file://./${path}`;
}

function parseMemory(url: string, rest: string): ParsedStoreUrl {
  if (rest === "") return { scheme: "memory", name: undefined };
  if (/[?#]/.test(rest)) throw invalid(url, "a memory store name cannot contain ? or #");
  return { scheme: "memory", name: rest };
}

function parseFile(url: string, rest: string, cwd: string): ParsedStoreUrl {
  // `rest` is reassigned once below: file://localhost/abs is file:///abs.
  if (rest === "" || rest === "." || rest === "./") throw invalid(url, "the path is empty; write file://./dir for a directory here");
  if (/[?#]/.test(rest)) throw invalid(url, "a file URL cannot carry ? or # (percent-encode them as %3F and %23)");
  if (/^localhost\//i.test(rest)) rest = rest.slice("localhost".length);
  if (!rest.startsWith("/") && !/^\.\.?(\/|$)/.test(rest)) {
    const path = decodePath(url, rest);
    throw invalid(url, `"${rest.split("/")[0]}" would be a host name, which file URLs here do not take; write file:///${path} for an absolute path or file://./${path} for one relative to the working directory`);
  }
  const root = rest.startsWith("/") ? absoluteFilePath(url, rest) : resolve(cwd, decodePath(url, rest));
  if (root.includes("\0")) throw invalid(url, "the path contains NUL");
  if (resolve(root) === resolve("/")) throw invalid(url, "refusing the filesystem root as a store root");
  return { scheme: "file", root };
}

function absoluteFilePath(url: string, rest: string): string {
  try {
    const path = fileURLToPath(`file://${rest}`);
    if (!isAbsolute(path)) throw new Error("not absolute");
    return resolve(path);
  } catch (error) {
    throw invalid(url, `the path is not valid (${(error as Error).message})`);
  }
}

function decodePath(url: string, path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw invalid(url, "it has a malformed percent escape");
  }
}

/** Bucket names per S3's rules, loosened for S3-compatible servers: no "/", "@", ":", space or control characters. */
const BUCKET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

function parseS3(url: string, rest: string): ParsedStoreUrl {
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const rawPrefix = slash < 0 ? "" : rest.slice(slash + 1);
  if (bucket.includes("@") || bucket.includes(":")) throw invalid(url, "the part before the first / must be a bucket name: credentials and endpoints do not belong in the URL, pass them as options or through the environment");
  if (bucket === "") throw invalid(url, "the bucket is missing");
  // The name is not repeated: with a secret containing "/", it could hold part of the secret.
  if (!BUCKET_NAME.test(bucket)) throw invalid(url, "the bucket name is not valid (letters, digits, dots, hyphens, underscores)");
  if (/[?#]/.test(rawPrefix)) throw invalid(url, "the prefix cannot contain ? or #; pass endpoint and region as options");
  const prefix = decodePath(url, rawPrefix).replace(/^\/+|\/+$/g, "");
  if (prefix.includes("\0")) throw invalid(url, "the prefix contains NUL");
  return { scheme: "s3", bucket, prefix: prefix === "" ? undefined : prefix };
}

/** Combines a parsed s3:// URL with the options and the environment (options win). */
export function s3Settings(parsed: Extract<ParsedStoreUrl, { scheme: "s3" }>, options: OpenStoreOptions = {}): S3Settings {
  const env = options.env ?? process.env;
  const pick = (...names: string[]) => names.map((name) => env[name]).find((value) => value !== undefined && value !== "");
  const endpoint = options.endpoint ?? pick("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
  const region = options.region ?? pick("AWS_REGION", "AWS_DEFAULT_REGION");
  const forcePathStyle = options.forcePathStyle ?? parseBooleanEnv("S3_FORCE_PATH_STYLE", pick("S3_FORCE_PATH_STYLE"));
  return {
    bucket: parsed.bucket,
    ...(parsed.prefix === undefined ? {} : { prefix: parsed.prefix }),
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(region === undefined ? {} : { region }),
    ...(forcePathStyle === undefined ? {} : { forcePathStyle }),
  };
}

function parseBooleanEnv(name: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const lower = value.trim().toLowerCase();
  if (["1", "true", "yes"].includes(lower)) return true;
  if (["0", "false", "no"].includes(lower)) return false;
  throw new ValidationError(`${name} must be true, false, 1 or 0, got ${JSON.stringify(value)}`);
}

const namedMemoryStores = new Map<string, MemoryStore>();

function namedMemoryStore(name: string): MemoryStore {
  let store = namedMemoryStores.get(name);
  if (store === undefined) namedMemoryStores.set(name, (store = new MemoryStore()));
  return store;
}

/** Forgets the named memory store (its data goes once nothing else holds it). Returns whether it existed. */
export function dropNamedMemoryStore(name: string): boolean {
  return namedMemoryStores.delete(name);
}

/**
 * The URL as it may appear in a message. Everything between "://" and the LAST "@" is removed:
 * a secret key may contain "/", so stopping at the first "/" could leak part of it, and a prefix
 * that merely contains "@" loses some detail in the message, which is the cheaper mistake.
 */
export function redactStoreUrl(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/).*@/s, "$1<redacted>@");
}

function invalid(url: string, problem: string): ValidationError {
  return new ValidationError(`store URL ${JSON.stringify(redactStoreUrl(url))} is not accepted: ${problem}. Accepted forms: ${ACCEPTED_STORE_URLS}`);
}
