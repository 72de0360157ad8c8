/**
 * Machine description printed beside every bench table: CPU, memory, the disk under the bench's
 * temp directory (from `df`, /proc/mounts and /sys/block), Node and kernel versions, and the load
 * average, because on a shared machine the load at the time explains much of the spread.
 *
 * Everything here is best effort: a field that cannot be read says "unknown" rather than failing
 * the bench.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem, type as osType } from "node:os";
import path from "node:path";

export interface DiskInfo {
  /** Directory the description is for (the bench's temp dir). */
  dir: string;
  device: string;
  mountPoint: string;
  fsType: string;
  mountOptions: string;
  sizeGiB: number | undefined;
  /** /sys/block/<dev>/queue/rotational (virtio disks report 1 whatever the medium). */
  rotational: string;
  writeCache: string;
  scheduler: string;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  node: string;
  v8: string;
  disk: DiskInfo;
  loadAverage: [number, number, number];
}

export function describeMachine(dir: string): MachineInfo {
  const cpuList = cpus();
  const [l1, l5, l15] = loadavg();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? "unknown",
    cores: availableParallelism(),
    memoryGiB: round1(totalmem() / 1024 ** 3),
    os: osType(),
    kernel: release(),
    node: process.version,
    v8: process.versions.v8,
    disk: describeDisk(dir),
    loadAverage: [round1(l1 ?? 0), round1(l5 ?? 0), round1(l15 ?? 0)],
  };
}

export function describeDisk(dir: string): DiskInfo {
  const resolved = safe(() => realpathSync(dir), dir);
  const device = safe(() => dfDevice(resolved), "unknown");
  const mount = findMount(resolved);
  const sysDir = sysBlockDir(device);
  const read = (file: string) => (sysDir === undefined ? "unknown" : safe(() => readFileSync(path.join(sysDir, file), "utf8").trim(), "unknown"));
  const sectors = Number(read("size"));
  const scheduler = read("queue/scheduler");
  return {
    dir: resolved,
    device,
    mountPoint: mount?.mountPoint ?? "unknown",
    fsType: mount?.fsType ?? "unknown",
    mountOptions: mount?.options ?? "unknown",
    sizeGiB: Number.isFinite(sectors) ? round1((sectors * 512) / 1024 ** 3) : undefined,
    rotational: read("queue/rotational"),
    writeCache: read("queue/write_cache"),
    scheduler: /\[(.+?)\]/.exec(scheduler)?.[1] ?? scheduler,
  };
}

/** One line per fact, for the top of a report. */
export function machineLines(info: MachineInfo): string[] {
  const d = info.disk;
  return [
    `CPU: ${info.cores} x ${info.cpuModel}; memory ${info.memoryGiB} GiB`,
    `OS: ${info.os} ${info.kernel}; Node ${info.node} (V8 ${info.v8})`,
    `Disk under ${d.dir}: ${d.device} ${d.sizeGiB ?? "?"} GiB, ${d.fsType} (${d.mountOptions}), ` +
      `rotational=${d.rotational}, write_cache=${d.writeCache}, scheduler=${d.scheduler}`,
    `Load average at start: ${info.loadAverage.join(" / ")} (1 / 5 / 15 min)`,
  ];
}

function dfDevice(dir: string): string {
  const out = execFileSync("df", ["-P", dir], { encoding: "utf8" }).trim().split("\n");
  return out[1]?.split(/\s+/)[0] ?? "unknown";
}

interface Mount {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string;
}

/** The longest mount point that contains `dir`. */
function findMount(dir: string): Mount | undefined {
  const mounts = safe(() => readFileSync("/proc/mounts", "utf8"), "")
    .split("\n")
    .map((line) => line.split(" "))
    .filter((fields) => fields.length >= 4)
    .map(([device, mountPoint, fsType, options]) => ({ device: device!, mountPoint: mountPoint!, fsType: fsType!, options: options! }));
  let best: Mount | undefined;
  for (const mount of mounts) {
    const inside = dir === mount.mountPoint || dir.startsWith(mount.mountPoint.endsWith("/") ? mount.mountPoint : `${mount.mountPoint}/`);
    if (inside && (best === undefined || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
  }
  return best;
}

/** /sys/block/<disk> for /dev/<disk> or /dev/<partition> (a partition's parent is the disk). */
function sysBlockDir(device: string): string | undefined {
  const name = path.basename(device);
  if (existsSync(`/sys/block/${name}`)) return `/sys/block/${name}`;
  const classDir = `/sys/class/block/${name}`;
  if (!existsSync(`${classDir}/partition`)) return undefined;
  const parent = path.basename(path.dirname(safe(() => realpathSync(classDir), "")));
  return existsSync(`/sys/block/${parent}`) ? `/sys/block/${parent}` : undefined;
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
