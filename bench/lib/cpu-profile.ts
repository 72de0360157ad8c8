/**
 * Summarises a V8 CPU profile (the .cpuprofile file `node --cpu-prof` writes): self time per
 * function and per source file, largest first, so "where does the time go" has a short answer.
 *
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof bench/engine.ts --case <id>
 *   npx tsx bench/lib/cpu-profile.ts /tmp/prof/<file>.cpuprofile [--top 25]
 *
 * Self time of a sample is the time delta recorded with it, charged to the node (function) that
 * was on top of the stack. "(idle)" is the event loop waiting (for I/O or timers), "(program)"
 * native work V8 does not attribute to a JS function, "(garbage collector)" GC.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { formatNumber, renderText, type Column } from "./table.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
}

export function summarizeCpuProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + delta);
    totalUs += delta;
  }
  const functions = new Map<string, SelfTime>();
  const files = new Map<string, SelfTime>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
    if (name === "(idle)") idleUs += us;
    const file = shortUrl(frame.url);
    // tsx emits each TypeScript module as one line, so a line number there would mislead.
    const where = file === "" ? "" : /\.[cm]?tsx?$/.test(file) ? file : `${file}:${frame.lineNumber + 1}`;
    add(functions, `${name}@${where}`, name, where, us);
    add(files, file === "" ? name : file, file === "" ? name : file, "", us);
  }
  const finish = (map: Map<string, SelfTime>) =>
    [...map.values()].map((entry) => ({ ...entry, selfMs: entry.selfMs / 1000, share: entry.selfMs / totalUs })).sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, byFunction: finish(functions), byFile: finish(files) };
}

function add(map: Map<string, SelfTime>, key: string, name: string, where: string, us: number): void {
  const entry = map.get(key) ?? { name, where, selfMs: 0, share: 0 };
  entry.selfMs += us;
  map.set(key, entry);
}

/** Paths relative to the working directory, node internals as "node:...". */
function shortUrl(url: string): string {
  if (url === "") return "";
  if (url.startsWith("node:")) return url;
  const filePath = url.startsWith("file://") ? new URL(url).pathname : url;
  return path.relative(process.cwd(), filePath);
}

export function renderProfile(summary: ProfileSummary, top: number): string {
  const columns: Column<SelfTime>[] = [
    { header: "self ms", cell: (row) => formatNumber(row.selfMs) },
    { header: "share", cell: (row) => `${(row.share * 100).toFixed(1)}%` },
    { header: "function", align: "left", cell: (row) => row.name },
    { header: "where", align: "left", cell: (row) => row.where },
  ];
  return [
    `total ${formatNumber(summary.totalMs)} ms, idle ${formatNumber(summary.idleMs)} ms (${((summary.idleMs / summary.totalMs) * 100).toFixed(1)}%)`,
    "",
    "Top functions by self time:",
    renderText(columns, summary.byFunction.slice(0, top)),
    "",
    "Top files by self time:",
    renderText(columns.filter((c) => c.header !== "where"), summary.byFile.slice(0, top)),
  ].join("\n");
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === import.meta.filename) {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: npx tsx bench/lib/cpu-profile.ts <file.cpuprofile> [--top N]");
  const topIndex = process.argv.indexOf("--top");
  console.log(renderProfile(summarizeCpuProfile(file), topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25));
}
