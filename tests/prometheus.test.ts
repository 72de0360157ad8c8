/**
 * renderPrometheus (src/metrics/prometheus.ts): the output parses as Prometheus text format
 * 0.0.4 (valid names, HELP and TYPE before each family's samples, a well-formed histogram), its
 * values are metrics()'s (ms turned into seconds), every numeric field of LogMetrics is rendered
 * with a proper type, and examples/metrics-server.ts serves it over HTTP.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ValidationError, renderPrometheus, type LogMetrics } from "../src/index.js";
import { numericLeaves } from "../src/metrics/prometheus.js";
import { spawnTsx } from "./helpers/child-process.js";
import { bodies, withStream } from "./helpers/stream-helpers.js";

interface Family {
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A strict parser of the text format: throws on anything a Prometheus server would reject. */
function parse(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const families = new Map<string, Family>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      assert.match(name, NAME);
      const family = families.get(name) ?? { type: "", help: "", samples: [] };
      if (kind === "HELP") {
        assert.equal(family.help, "", `one HELP for ${name}`);
        family.help = rest;
      } else {
        assert.equal(family.type, "", `one TYPE for ${name}`);
        assert.ok(["counter", "gauge", "histogram", "summary", "untyped"].includes(rest), line);
        assert.equal(family.samples.length, 0, `TYPE before the samples of ${name}`);
        family.type = rest;
      }
      families.set(name, family);
      current = name;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample !== null, `not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText, valueText] = sample as unknown as [string, string, string | undefined, string];
    const family = families.get(current ?? "");
    assert.ok(family !== undefined && current !== undefined, `sample ${name} before any HELP/TYPE`);
    const allowed = family.type === "histogram" ? [`${current}_bucket`, `${current}_sum`, `${current}_count`] : [current];
    assert.ok(allowed.includes(name), `sample ${name} inside family ${current}`);
    const labels: Record<string, string> = {};
    for (const match of (labelText ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g)) labels[match[1]!] = match[2]!.replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    assert.ok(valueText === "NaN" || !Number.isNaN(value), `bad value in ${line}`);
    family.samples.push({ name, labels, value });
  }
  for (const [name, family] of families) assert.ok(family.type !== "" && family.help !== "", `${name} has HELP and TYPE`);
  return families;
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  assert.ok(family !== undefined, `no family ${name}`);
  const sample = family.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(sample !== undefined, `no sample ${name} ${JSON.stringify(labels)}`);
  return sample.value;
}

async function liveMetrics(): Promise<LogMetrics> {
  return withStream(async (stream, t) => {
    for (let i = 0; i < 20; i++) await stream.append(bodies(3));
    await stream.append([{ body: "late" }], { matchSeqNum: 0 }).catch(() => undefined);
    return t.log.metrics();
  });
}

describe("renderPrometheus", () => {
  it("renders valid text format 0.0.4 with the values of metrics()", async () => {
    const metrics = await liveMetrics();
    const families = parse(renderPrometheus(metrics));
    for (const name of families.keys()) assert.ok(name.startsWith("durastream_"), name);
    assert.equal(value(families, "durastream_appends_total"), metrics.appends);
    assert.equal(value(families, "durastream_appends_total"), 21);
    assert.equal(value(families, "durastream_append_errors_total"), 1);
    assert.equal(value(families, "durastream_store_requests_total", { kind: "put" }), metrics.engine.storeRequests.put);
    assert.equal(value(families, "durastream_store_requests_total", { kind: "list" }), metrics.engine.storeRequests.list);
    assert.equal(value(families, "durastream_wal_flush_duration_seconds_total"), Number((metrics.engine.walFlushDurationMsTotal / 1000).toPrecision(12)));
    assert.equal(value(families, "durastream_engine_state", { state: "open" }), 1);
    assert.equal(value(families, "durastream_engine_state", { state: "closed" }), 0);
    for (const [name, family] of families) {
      if (family.type === "counter") {
        assert.ok(name.endsWith("_total"), `counter ${name} ends in _total`);
        assert.ok(family.samples.every((s) => s.value >= 0), `counter ${name} is not negative`);
      }
    }
  });

  it("renders the append latency as a histogram: cumulative buckets in seconds ending at +Inf, sum and count", async () => {
    const metrics = await liveMetrics();
    const family = parse(renderPrometheus(metrics)).get("durastream_append_latency_seconds")!;
    assert.equal(family.type, "histogram");
    const buckets = family.samples.filter((s) => s.name.endsWith("_bucket"));
    const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)));
    assert.deepEqual(bounds, [...bounds].sort((a, b) => a - b), "le ascending");
    assert.equal(bounds[0], metrics.appendLatency.buckets[0]!.leMs / 1000);
    assert.equal(buckets[buckets.length - 1]!.labels.le, "+Inf");
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, "cumulative");
    const count = family.samples.find((s) => s.name.endsWith("_count"))!.value;
    assert.equal(count, metrics.appendLatency.count);
    assert.equal(buckets[buckets.length - 1]!.value, count);
    assert.ok(Math.abs(family.samples.find((s) => s.name.endsWith("_sum"))!.value - metrics.appendLatency.sumMs / 1000) < 1e-9);
  });

  it("gives every numeric field of LogMetrics a typed metric (none falls back to untyped)", async () => {
    const metrics = await liveMetrics();
    const families = parse(renderPrometheus(metrics));
    const untyped = [...families].filter(([, f]) => f.type === "untyped").map(([name, f]) => `${name} (${f.help})`);
    assert.deepEqual(untyped, [], "add these LogMetrics fields to METRICS in src/metrics/prometheus.ts with a name, type and help");
    const samples = [...families.values()].reduce((sum, f) => sum + f.samples.length, 0);
    const leaves = numericLeaves(metrics, "").filter(([path]) => !path.startsWith("appendLatency."));
    assert.ok(samples >= leaves.length, `${samples} samples for ${leaves.length} numeric fields`);
  });

  it("still renders a numeric field it does not know, as untyped, named after its path", async () => {
    const metrics = await liveMetrics();
    const extended = { ...metrics, engine: { ...metrics.engine, readerLagMs: 12.5, nested: { someCount: 3 } } } as LogMetrics;
    const families = parse(renderPrometheus(extended));
    assert.equal(families.get("durastream_engine_reader_lag_ms")?.type, "untyped");
    assert.equal(value(families, "durastream_engine_reader_lag_ms"), 12.5);
    assert.equal(value(families, "durastream_engine_nested_some_count"), 3);
  });

  it("takes a prefix and extra labels (escaped), and refuses an invalid prefix or label name", async () => {
    const metrics = await liveMetrics();
    const families = parse(renderPrometheus(metrics, { prefix: "app:log_", labels: { instance: 'a "quoted"\\path\nline' } }));
    for (const [name, family] of families) {
      assert.ok(name.startsWith("app:log_"), name);
      for (const s of family.samples) assert.equal(s.labels.instance, 'a "quoted"\\path\nline');
    }
    assert.ok(families.has("app:log_appends_total"));
    assert.throws(() => renderPrometheus(metrics, { prefix: "9bad" }), ValidationError);
    assert.throws(() => renderPrometheus(metrics, { labels: { "bad-name": "x" } }), ValidationError);
    assert.throws(() => renderPrometheus(metrics, { labels: { __reserved: "x" } }), ValidationError);
  });

  it("examples/metrics-server.ts serves it on 127.0.0.1 with the text format's content type", async () => {
    const child = spawnTsx("examples/metrics-server.ts", [], { ...process.env, PORT: "0", DURASTREAM_STORE: "memory://" });
    try {
      const line = await child.waitForLine((l) => l.startsWith("serving metrics on "));
      const url = line.slice("serving metrics on ".length);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
      const families = parse(await response.text());
      assert.equal(value(families, "durastream_engine_state", { state: "open", log: "example" }), 1);
      assert.equal((await fetch(url.replace("/metrics", "/other"))).status, 404);
    } finally {
      await child.kill();
    }
  });
});
