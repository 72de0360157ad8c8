/**
 * Issue 13.15: the README says what the code does. Every `openLog` option is in the README's
 * options table, and what it says `log.health()` returns has the fields the code returns.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { DIAGNOSTICS_CHANNELS, MemoryStore, openLog } from "../../src/index.js";
import { REPO_ROOT } from "../helpers/child-process.js";

const readme = await readFile(path.join(REPO_ROOT, "README.md"), "utf8");

it("the options table names every openLog option", async () => {
  const source = await readFile(path.join(REPO_ROOT, "src", "log.ts"), "utf8");
  const list = /const LOG_OPTIONS = \[([^\]]*)\]/.exec(source)?.[1];
  assert.ok(list !== undefined, "LOG_OPTIONS is in src/log.ts");
  const options = [...list.matchAll(/"(\w+)"/g)].map((match) => match[1]!);
  const table = readme.split("\n").filter((line) => line.startsWith("| `"));
  for (const option of options) assert.ok(table.some((row) => row.split("|")[1]!.includes(`\`${option}\``)), `README's options table lacks ${option}`);
});

it("the README's health() line names the fields health() returns", async () => {
  const log = await openLog({ store: new MemoryStore() });
  const health = log.health();
  await log.close();
  const line = readme.split("\n").find((l) => l.startsWith("log.health()"));
  assert.ok(line !== undefined);
  for (const field of Object.keys(health)) assert.match(line, new RegExp(`\\b${field}\\b`), `README's health() line lacks ${field}`);
});

it("the README's logger row names every diagnostics channel and every field of an event (issue 13, logger hook)", async () => {
  const row = readme.split("\n").find((line) => line.startsWith("| `logger` |"));
  assert.ok(row !== undefined, "the options table has a logger row");
  for (const name of Object.values(DIAGNOSTICS_CHANNELS)) assert.ok(row.includes(`\`${name}\``), `README's logger row lacks the channel ${name}`);
  const source = await readFile(path.join(REPO_ROOT, "src", "diagnostics.ts"), "utf8");
  const body = /export interface DiagnosticEvent \{([^}]*)\}/.exec(source)?.[1];
  assert.ok(body !== undefined, "DiagnosticEvent is in src/diagnostics.ts");
  const fields = [...body.matchAll(/^ {2}(\w+)(\?)?:/gm)].map((match) => `${match[1]!}${match[2] ?? ""}`);
  assert.ok(fields.length >= 2, "the scan found the fields");
  const documented = /`\{ ([^}`]*) \}`/.exec(row.slice(row.indexOf("with the fields")))?.[1]?.split(", ");
  assert.deepEqual(documented, fields, "README's fields of an event are DiagnosticEvent's, in order, optional ones marked");
});
