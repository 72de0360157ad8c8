/**
 * Store URLs: parseStoreUrl on every accepted form and every refused one (with messages that
 * list the accepted forms and never repeat a credential), the S3 settings taken from options and
 * the environment, and openStore building the right store for each scheme.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { LocalStore } from "../../src/store/local-store.js";
import { MemoryStore } from "../../src/store/memory-store.js";
import {
  ACCEPTED_STORE_URLS,
  dropNamedMemoryStore,
  openStore,
  parseStoreUrl,
  redactStoreUrl,
  s3Settings,
  type ParsedStoreUrl,
} from "../../src/store/open-store.js";
import { S3Store } from "../../src/store/s3-store.js";

const CWD = "/srv/app";

/** Asserts a ValidationError that lists the accepted forms and contains none of `secrets`. */
function assertRefused(url: string, problem: RegExp, secrets: string[] = []): void {
  assert.throws(
    () => parseStoreUrl(url, CWD),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, "validation", error.message);
      assert.match(error.message, problem);
      assert.ok(error.message.includes(ACCEPTED_STORE_URLS), `no list of accepted forms in: ${error.message}`);
      for (const secret of secrets) assert.ok(!error.message.includes(secret), `message leaks ${secret}: ${error.message}`);
      return true;
    },
  );
}

describe("parseStoreUrl: memory://", () => {
  it("parses an anonymous and a named memory store, with a case-insensitive scheme", () => {
    assert.deepEqual(parseStoreUrl("memory://"), { scheme: "memory", name: undefined });
    assert.deepEqual(parseStoreUrl("memory://tests"), { scheme: "memory", name: "tests" });
    assert.deepEqual(parseStoreUrl("MEMORY://a/b"), { scheme: "memory", name: "a/b" });
  });

  it("refuses ? and # in a name", () => {
    assertRefused("memory://x?y=1", /\? or #/);
  });
});

describe("parseStoreUrl: file://", () => {
  const file = (url: string) => parseStoreUrl(url, CWD) as Extract<ParsedStoreUrl, { scheme: "file" }>;

  it("takes an absolute path as is, normalised, with percent escapes decoded", () => {
    assert.deepEqual(parseStoreUrl("file:///var/lib/durastream", CWD), { scheme: "file", root: "/var/lib/durastream" });
    assert.equal(file("file:///var/lib/ds/").root, "/var/lib/ds");
    assert.equal(file("file:///var/a/../b").root, "/var/b");
    assert.equal(file("file:///tmp/my%20data").root, "/tmp/my data");
  });

  it("round-trips a directory through pathToFileURL", () => {
    const dir = "/tmp/with space/100% #1?";
    assert.equal(file(pathToFileURL(dir).href).root, dir);
  });

  it("resolves file://./rel and file://../rel against the working directory", () => {
    assert.equal(file("file://./data").root, "/srv/app/data");
    assert.equal(file("file://./data/sub/").root, "/srv/app/data/sub");
    assert.equal(file("file://../shared").root, "/srv/shared");
    assert.equal(file("file://./my%20data").root, "/srv/app/my data");
    assert.equal(file("file://localhost/var/ds").root, "/var/ds");
    assert.equal((parseStoreUrl("file://./data") as { root: string }).root, join(process.cwd(), "data"), "default cwd");
  });

  it("refuses file://host/... and file://name, showing both the absolute and the relative form (issue 13.6)", () => {
    assertRefused("file://srv/data", /"srv" would be a host name.*file:\/\/\/srv\/data .*file:\/\/\.\/srv\/data /);
    assertRefused("file://data", /file:\/\/\/data .*file:\/\/\.\/data /);
  });

  it("gives the right advice for a known scheme without // (issue 13.6)", () => {
    assertRefused("file:/srv/data", /"file:" must be followed by "\/\/"; write file:\/\/\/srv\/data\./);
    assertRefused("file:data", /write file:\/\/\.\/data\./);
    assertRefused("memory:", /write memory:\/\/\./);
    assertRefused("memory:x", /write memory:\/\/x\./);
    assertRefused("s3:/bucket", /write s3:\/\/bucket\./);
    assertRefused("S3:bucket/p", /write s3:\/\/bucket\/p\./);
  });

  it("refuses an empty path, the filesystem root, query strings and bad escapes", () => {
    assertRefused("file://", /path is empty/);
    assertRefused("file://.", /path is empty/);
    assertRefused("file://./", /path is empty/);
    assertRefused("file:///", /filesystem root/);
    assertRefused("file://../../..", /filesystem root/);
    assertRefused("file:///data?sync=1", /\? or #/);
    assertRefused("file://./data%zz", /percent escape/);
    assertRefused("file://./data%00x", /NUL/);
    assertRefused("file:///a%2Fb", /not valid/);
  });
});

describe("parseStoreUrl: s3://", () => {
  it("parses a bucket alone and a bucket with a prefix, trimming slashes around the prefix", () => {
    assert.deepEqual(parseStoreUrl("s3://logs"), { scheme: "s3", bucket: "logs", prefix: undefined });
    assert.deepEqual(parseStoreUrl("s3://logs/"), { scheme: "s3", bucket: "logs", prefix: undefined });
    assert.deepEqual(parseStoreUrl("S3://logs/prod/orders/"), { scheme: "s3", bucket: "logs", prefix: "prod/orders" });
    assert.deepEqual(parseStoreUrl("s3://my.bucket-1//p"), { scheme: "s3", bucket: "my.bucket-1", prefix: "p" });
    assert.deepEqual(parseStoreUrl("s3://b/team@x/a%20b"), { scheme: "s3", bucket: "b", prefix: "team@x/a b" });
  });

  it("refuses a missing bucket", () => {
    assertRefused("s3://", /bucket is missing/);
    assertRefused("s3:///prefix", /bucket is missing/);
  });

  it("refuses invalid bucket names, query strings and endpoints in the URL", () => {
    assertRefused("s3://bad bucket/p", /bucket name is not valid/);
    assertRefused("s3://-bucket", /bucket name is not valid/);
    assertRefused("s3://bucket/p?region=eu-west-1", /\? or #/);
    assertRefused("s3://localhost:9000/bucket", /credentials and endpoints do not belong/);
  });

  it("refuses credentials in the URL without repeating them, even a secret that contains a slash", () => {
    assertRefused("s3://AKIAEXAMPLE:s3cr3tKey@bucket/prefix", /credentials/, ["AKIAEXAMPLE", "s3cr3tKey"]);
    assertRefused("s3://AKIAEXAMPLE:s3cr3t/Key+x@bucket/prefix", /bucket/, ["AKIAEXAMPLE", "s3cr3t", "Key+x"]);
    assertRefused("s3://token@bucket", /credentials/, ["token"]);
    assert.equal(redactStoreUrl("s3://id:se/cret@bucket/p"), "s3://<redacted>@bucket/p");
    assert.equal(redactStoreUrl("s3://bucket/p"), "s3://bucket/p");
  });
});

describe("parseStoreUrl: other input", () => {
  it("refuses unknown schemes and says which forms are accepted", () => {
    assertRefused("http://example.com/data", /unknown scheme "http:"/);
    assertRefused("gs://bucket", /unknown scheme "gs:"/);
  });

  it("refuses a bare path and suggests the file:// form", () => {
    assertRefused("./data", /no scheme; for a directory write file:\/\/\.\/data\./);
    assertRefused("../data", /write file:\/\/\.\.\/data\./);
    assertRefused("data", /write file:\/\/\.\/data/);
    assertRefused("/var/data", /write file:\/\/\/var\/data/);
    assertRefused("", /no scheme/);
  });

  it("refuses a non-string", () => {
    assert.throws(() => parseStoreUrl(42 as unknown as string), { code: "validation" });
  });
});

describe("s3Settings", () => {
  const bucket = { scheme: "s3" as const, bucket: "b", prefix: "p" };

  it("takes the endpoint from S3_ENDPOINT, then AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL, ignoring empty values", () => {
    const all = { S3_ENDPOINT: "http://one", AWS_ENDPOINT_URL_S3: "http://two", AWS_ENDPOINT_URL: "http://three" };
    assert.equal(s3Settings(bucket, { env: all }).endpoint, "http://one");
    assert.equal(s3Settings(bucket, { env: { ...all, S3_ENDPOINT: "" } }).endpoint, "http://two");
    assert.equal(s3Settings(bucket, { env: { AWS_ENDPOINT_URL: "http://three" } }).endpoint, "http://three");
    assert.equal(s3Settings(bucket, { env: {} }).endpoint, undefined);
  });

  it("takes the region from AWS_REGION, then AWS_DEFAULT_REGION", () => {
    assert.equal(s3Settings(bucket, { env: { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "us-east-2" } }).region, "eu-west-1");
    assert.equal(s3Settings(bucket, { env: { AWS_DEFAULT_REGION: "us-east-2" } }).region, "us-east-2");
  });

  it("reads S3_FORCE_PATH_STYLE as a boolean and refuses anything else", () => {
    for (const [value, expected] of [["true", true], ["1", true], ["YES", true], ["false", false], ["0", false], ["no", false]] as const) {
      assert.equal(s3Settings(bucket, { env: { S3_FORCE_PATH_STYLE: value } }).forcePathStyle, expected, value);
    }
    assert.equal(s3Settings(bucket, { env: {} }).forcePathStyle, undefined);
    assert.throws(() => s3Settings(bucket, { env: { S3_FORCE_PATH_STYLE: "maybe" } }), { code: "validation" });
  });

  it("lets options win over the environment", () => {
    const env = { S3_ENDPOINT: "http://env", AWS_REGION: "env-region", S3_FORCE_PATH_STYLE: "false" };
    assert.deepEqual(s3Settings(bucket, { env, endpoint: "http://opt", region: "opt-region", forcePathStyle: true }), {
      bucket: "b",
      prefix: "p",
      endpoint: "http://opt",
      region: "opt-region",
      forcePathStyle: true,
    });
  });
});

describe("openStore", () => {
  it("opens a new, empty MemoryStore for each memory://", async () => {
    const a = openStore("memory://");
    const b = openStore("memory://");
    assert.ok(a instanceof MemoryStore && b instanceof MemoryStore);
    assert.notEqual(a, b);
    await a.put("k", new Uint8Array([1]));
    await assert.rejects(b.get("k"), { code: "not_found" });
  });

  it("shares one MemoryStore per name within the process until it is dropped", async () => {
    const name = `shared-${process.pid}-${Date.now()}`;
    const first = openStore(`memory://${name}`);
    await first.put("k", new Uint8Array([7]));
    const second = openStore(`memory://${name}`);
    assert.equal(second, first);
    assert.deepEqual([...(await second.get("k"))], [7]);
    assert.notEqual(openStore(`memory://${name}-other`), first);
    assert.equal(dropNamedMemoryStore(name), true);
    assert.equal(dropNamedMemoryStore(name), false);
    assert.notEqual(openStore(`memory://${name}`), first);
    dropNamedMemoryStore(name);
    dropNamedMemoryStore(`${name}-other`);
  });

  it("opens a LocalStore for file:// URLs, relative ones against the cwd option", async () => {
    const dir = await mkdtemp(join(tmpdir(), "durastream-open-"));
    try {
      const absolute = openStore(pathToFileURL(join(dir, "abs")).href);
      assert.ok(absolute instanceof LocalStore);
      assert.equal(absolute.description, `file://${join(dir, "abs")}`);
      const relative = openStore("file://./rel", { cwd: dir });
      assert.equal(relative.description, `file://${join(dir, "rel")}`);
      await relative.put("k", new Uint8Array([1, 2]));
      assert.deepEqual([...(await openStore(`file://${join(dir, "rel")}`).get("k"))], [1, 2]);
      await absolute.close?.();
      await relative.close?.();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("opens an S3Store with the bucket and prefix of the URL and no credential in its description", async () => {
    const store = openStore("s3://logs/prod", {
      env: {},
      endpoint: "http://127.0.0.1:1",
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "s3cr3t" },
    });
    assert.ok(store instanceof S3Store);
    assert.equal(store.description, "s3://logs/prod/");
    assert.ok(!String(store.description).includes("s3cr3t"));
    await store.close?.();
  });

  it("refuses what parseStoreUrl refuses", () => {
    assert.throws(() => openStore("ftp://x"), { code: "validation" });
    assert.throws(() => openStore("s3://"), { code: "validation" });
  });
});
