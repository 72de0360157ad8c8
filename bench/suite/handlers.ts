/**
 * Every case kind of the suite and the streams preset, mapped to the function a child process
 * runs for it (bench/lib/runner.ts looks the kind up here).
 */
import type { Handlers } from "../lib/runner.js";
import { rawHandlers } from "../raw-fsync.js";
import { KINDS } from "./cases.js";
import { buildDataset } from "./datasets.js";
import { dsWrite } from "./ds-write.js";
import { sameProcessFollow } from "./follow.js";
import { peerScan, peerWrite } from "./peer-load.js";
import { crossProcessFollow } from "./readers.js";
import { readStart, scaleAppend } from "./scale.js";
import { dsScan, rawFileScan } from "./scans.js";
import { memorySoak } from "./soak.js";

export const SUITE_HANDLERS: Handlers = {
  ...rawHandlers,
  [KINDS.dsWrite]: dsWrite,
  [KINDS.peerWrite]: peerWrite,
  [KINDS.dsScan]: dsScan,
  [KINDS.rawScan]: rawFileScan,
  [KINDS.peerScan]: peerScan,
  [KINDS.buildDataset]: buildDataset,
  [KINDS.readStart]: readStart,
  [KINDS.scaleAppend]: scaleAppend,
  [KINDS.soak]: memorySoak,
  [KINDS.follow]: sameProcessFollow,
  [KINDS.readers]: crossProcessFollow,
};
