/**
 * cgroups on Linux, v1 (also "hybrid": v1 controllers plus an empty v2 mount at
 * /sys/fs/cgroup/unified, as on these machines) and v2 (unified).
 *
 * A container's cgroup path is ABSOLUTE (runtime-spec `linux.cgroupsPath` starting with '/'),
 * the cgroupfs driver (no systemd): `<brigd's own cgroup>/brig-<daemonTag>/<container id>`.
 * On v1 the runtime creates that path under every controller's hierarchy. "brigd's own cgroup"
 * is its path in the memory hierarchy (v1) or its unified path (v2), read from /proc/self/cgroup:
 * memory is where a sandbox host confines its tenants, so containers stay inside brigd's limit.
 */
import { readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerStats } from '../platform.ts';

export const CGROUP_ROOT = '/sys/fs/cgroup';

export interface CgroupLayout {
  mode: 'v1' | 'hybrid' | 'v2';
  /** v1: controller name -> mount directory (a mount may hold several: cpu,cpuacct). */
  v1: Map<string, string>;
  /** v2 mount directory (the unified mount on hybrid hosts), if any. */
  v2?: string;
}

let layoutCache: Promise<CgroupLayout> | undefined;

export function cgroupLayout(): Promise<CgroupLayout> {
  layoutCache ??= (async () => {
    const text = await readFile('/proc/self/mountinfo', 'utf8');
    const v1 = new Map<string, string>();
    let v2: string | undefined;
    for (const line of text.split('\n')) {
      const sep = line.indexOf(' - ');
      if (sep < 0) continue;
      const left = line.slice(0, sep).split(' ');
      const right = line.slice(sep + 3).split(' ');
      const mountPoint = left[4]!;
      const fstype = right[0];
      if (fstype === 'cgroup2') v2 ??= mountPoint;
      else if (fstype === 'cgroup') {
        for (const opt of (right[2] ?? '').split(',')) {
          if (['rw', 'ro', 'relatime', 'nosuid', 'nodev', 'noexec'].includes(opt)) continue;
          if (!v1.has(opt)) v1.set(opt, mountPoint);
        }
      }
    }
    const mode = v1.size === 0 ? 'v2' : v2 ? 'hybrid' : 'v1';
    return { mode, v1, ...(v2 ? { v2 } : {}) };
  })();
  return layoutCache;
}

/** Parses /proc/<pid>/cgroup into controller -> path ('' is the v2 entry). */
export function parseProcCgroup(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    const ctrls = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (ctrls === '') m.set('', path);
    else for (const c of ctrls.split(',')) m.set(c, path);
  }
  return m;
}

/** brigd's own cgroup (see the header). */
export async function ownCgroup(): Promise<string> {
  const m = parseProcCgroup(readFileSync('/proc/self/cgroup', 'utf8'));
  const layout = await cgroupLayout();
  const p = layout.mode === 'v2' ? m.get('') : (m.get('memory') ?? m.get('pids') ?? m.get(''));
  return p && p !== '' ? p : '/';
}

export function scopeParent(own: string, daemonTag: string): string {
  return `${own === '/' ? '' : own.replace(/\/+$/, '')}/brig-${daemonTag}`;
}

/** Every directory that holds the cgroup `path` (one per v1 hierarchy, the v2 one). */
export async function cgroupDirs(path: string): Promise<string[]> {
  const layout = await cgroupLayout();
  const dirs = new Set<string>();
  for (const mp of layout.v1.values()) dirs.add(join(mp, path));
  if (layout.v2) dirs.add(join(layout.v2, path));
  return [...dirs];
}

async function readOr(path: string, fallback: string): Promise<string> {
  try {
    // synchronous: a cgroup or /proc file (see rmdirRetry)
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

async function controllerDir(ctrl: string, path: string): Promise<string | undefined> {
  const layout = await cgroupLayout();
  if (layout.mode === 'v2') return layout.v2 ? join(layout.v2, path) : undefined;
  const mp = layout.v1.get(ctrl);
  return mp ? join(mp, path) : undefined;
}

/** Pids in the cgroup (from the pids or memory hierarchy). */
export async function cgroupPids(path: string): Promise<number[]> {
  const dir = (await controllerDir('pids', path)) ?? (await controllerDir('memory', path));
  if (!dir) return [];
  return (await readOr(join(dir, 'cgroup.procs'), '')).split('\n').filter(Boolean).map(Number);
}

export async function oomKilled(path: string): Promise<boolean> {
  const layout = await cgroupLayout();
  const dir = await controllerDir('memory', path);
  if (!dir) return false;
  const file = layout.mode === 'v2' ? 'memory.events' : 'memory.oom_control';
  const m = /^oom_kill (\d+)$/m.exec(await readOr(join(dir, file), ''));
  return m ? Number(m[1]) > 0 : false;
}

const UNLIMITED = 2 ** 62;

export async function cgroupStats(path: string): Promise<ContainerStats> {
  const layout = await cgroupLayout();
  const num = (s: string) => {
    const n = Number(s.trim());
    return Number.isFinite(n) ? n : 0;
  };
  if (layout.mode === 'v2') {
    const dir = join(layout.v2!, path);
    const cpu = /^usage_usec (\d+)$/m.exec(await readOr(join(dir, 'cpu.stat'), ''));
    const max = (await readOr(join(dir, 'memory.max'), 'max')).trim();
    let r = 0;
    let w = 0;
    for (const line of (await readOr(join(dir, 'io.stat'), '')).split('\n')) {
      r += Number(/rbytes=(\d+)/.exec(line)?.[1] ?? 0);
      w += Number(/wbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
    return {
      cpuNanos: cpu ? Number(cpu[1]) * 1000 : 0,
      memoryBytes: num(await readOr(join(dir, 'memory.current'), '0')),
      ...(max !== 'max' ? { memoryLimitBytes: num(max) } : {}),
      pids: num(await readOr(join(dir, 'pids.current'), '0')),
      ioReadBytes: r,
      ioWriteBytes: w,
    };
  }
  const cpuDir = (await controllerDir('cpuacct', path)) ?? '';
  const memDir = (await controllerDir('memory', path)) ?? '';
  const pidsDir = (await controllerDir('pids', path)) ?? '';
  const blkDir = (await controllerDir('blkio', path)) ?? '';
  const limit = num(await readOr(join(memDir, 'memory.limit_in_bytes'), '0'));
  // docker's figure: usage minus inactive page cache (what the kernel can reclaim at once).
  const usage = num(await readOr(join(memDir, 'memory.usage_in_bytes'), '0'));
  const inactive = Number(
    /^total_inactive_file (\d+)$/m.exec(await readOr(join(memDir, 'memory.stat'), ''))?.[1] ?? 0,
  );
  let r = 0;
  let w = 0;
  for (const line of (await readOr(join(blkDir, 'blkio.throttle.io_service_bytes'), '')).split('\n')) {
    const m = /^\S+ (Read|Write) (\d+)$/.exec(line);
    if (m?.[1] === 'Read') r += Number(m[2]);
    else if (m?.[1] === 'Write') w += Number(m[2]);
  }
  return {
    cpuNanos: num(await readOr(join(cpuDir, 'cpuacct.usage'), '0')),
    memoryBytes: Math.max(0, usage - inactive),
    ...(limit > 0 && limit < UNLIMITED ? { memoryLimitBytes: limit } : {}),
    pids: num(await readOr(join(pidsDir, 'pids.current'), '0')),
    ioReadBytes: r,
    ioWriteBytes: w,
  };
}

/**
 * Removes the cgroup in every hierarchy, killing what is left in it first (a container's
 * processes outlive its init only if the runtime was killed mid-way). Missing is fine.
 */
export async function removeCgroup(path: string): Promise<void> {
  for (const pid of await cgroupPids(path)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const dir of await cgroupDirs(path)) {
    await rmdirRetry(dir);
  }
}

async function rmdirRetry(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      // children first (the runtime never makes any, but a container with cgroupns may).
      // Synchronous: cgroupfs never waits on a disk, and each asynchronous call is a round trip
      // through the thread pool (a release removes the scope in every v1 hierarchy: ~12 of them)
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await rmdirRetry(join(dir, e.name));
      }
      rmdirSync(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code === 'EBUSY' && i < 50) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      throw e;
    }
  }
}

/** Removes `parent` in every hierarchy if it has no children left. */
export async function removeIfEmpty(parent: string): Promise<void> {
  for (const dir of await cgroupDirs(parent)) {
    try {
      rmdirSync(dir);
    } catch {}
  }
}

/** Container cgroups (child directory names) under `parent` in any hierarchy. */
export async function childCgroups(parent: string): Promise<string[]> {
  const names = new Set<string>();
  for (const dir of await cgroupDirs(parent)) {
    try {
      for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
    } catch {}
  }
  return [...names];
}
