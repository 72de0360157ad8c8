/**
 * Test helper: names a store in one string, so a parent test and its child processes open the
 * same root, and creates and removes S3 test buckets.
 *
 *   file:<absolute dir>         LocalStore on that directory
 *   s3:<bucket>/<prefix>        S3Store on the S3-compatible server from the environment
 *                               (S3_ENDPOINT, AWS_REGION, S3_FORCE_PATH_STYLE, AWS credentials;
 *                               `bash scripts/s3-test-server.sh env` prints them)
 */
import { randomBytes } from "node:crypto";
import { DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { LocalStore } from "../../src/store/local-store.js";
import type { ObjectStore } from "../../src/store/object-store.js";
import { ensureBucket, S3Store, type S3StoreOptions } from "../../src/store/s3-store.js";
import type { WalMode } from "../../src/engine/engine-options.js";

export type S3Connection = Omit<S3StoreOptions, "bucket" | "prefix">;

/** The S3 test server's connection, or undefined when S3_ENDPOINT is not set. */
export function s3ConnectionFromEnv(): S3Connection | undefined {
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint === undefined || endpoint === "") return undefined;
  return {
    endpoint,
    region: process.env.AWS_REGION ?? "us-east-1",
    forcePathStyle: process.env.S3_FORCE_PATH_STYLE !== "false",
    requestTimeoutMs: 20_000,
  };
}

export function openStoreSpec(spec: string): ObjectStore {
  if (spec.startsWith("file:")) return new LocalStore(spec.slice("file:".length));
  if (spec.startsWith("s3:")) {
    const connection = s3ConnectionFromEnv();
    if (connection === undefined) throw new Error(`store ${spec} needs S3_ENDPOINT`);
    const rest = spec.slice("s3:".length);
    const slash = rest.indexOf("/");
    return new S3Store({ ...connection, bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1) });
  }
  throw new Error(`unknown store spec ${spec}`);
}

export async function createTestBucket(connection: S3Connection, label: string): Promise<string> {
  const bucket = `durastream-${label}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  await ensureBucket({ ...connection, bucket });
  return bucket;
}

export async function removeTestBucket(connection: S3Connection, bucket: string): Promise<void> {
  const client = new S3Client({
    ...(connection.endpoint === undefined ? {} : { endpoint: connection.endpoint }),
    ...(connection.region === undefined ? {} : { region: connection.region }),
    forcePathStyle: connection.forcePathStyle ?? false,
  });
  try {
    for (let page = 0; page < 1000; page++) {
      const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const objects = (listing.Contents ?? []).map((object) => ({ Key: object.Key ?? "" }));
      if (objects.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/**
 * The WAL kinds every LocalStore test runs on (issue 11): the object WAL and the segment WAL.
 * A test picks one with `useWalMode` before it spawns children; the children (and the parent's
 * own opens) read it back with `testWalMode`, through the environment they inherit.
 */
export const LOCAL_WAL_MODES: readonly WalMode[] = ["objects", "segments"];
const WAL_MODE_ENV = "DURASTREAM_TEST_WAL_MODE";

export function useWalMode(mode: WalMode): void {
  process.env[WAL_MODE_ENV] = mode;
}

export function testWalMode(): WalMode {
  return process.env[WAL_MODE_ENV] === "segments" ? "segments" : "objects";
}
