/**
 * Issue 13.15: the README says what the code does. Every `openLog` option is in the README's
 * options table, and what it says `log.health()` returns has the fields the code returns.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { it } from "node:test";
import { MemoryStore, openLog } from "../../src/index.js";
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
