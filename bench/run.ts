/**
 * `npm run bench`: the benchmark suite of issue 5. durastream side by side with the physical
 * limit (raw append + fdatasync, the ideal LocalStore put loop), better-sqlite3, classic-level
 * and lmdb, with the same durability, in one run; simulated S3 with its request cost; catch-up
 * scans; read start and appends as logs grow; a memory soak; readers in other processes.
 * Method and results: bench/README.md ("Suite"). Flags: bench/suite/main.ts.
 *
 *   npm run bench -- --quick           a minute or two
 *   npm run bench                      the full run (about 15 minutes on 2 cores)
 *   npm run bench -- --list            case ids
 *   node --import tsx --cpu-prof bench/run.ts --case <id> [--data-dir DIR]
 */
import { suiteMain } from "./suite/main.js";

await suiteMain("suite", import.meta.filename);
