/**
 * Linux: the host's device inventory for devfs rule evaluation (src/devfs/evaluate.ts): every
 * character and block device below /dev (lstat, so symlinks such as /dev/stdin are not nodes),
 * with major/minor from st_rdev, permission bits, owner and group.
 *
 * Left out, because the runtime creates them in every container itself (runc/crun defaults)
 * and listing them again in `linux.devices` would only shadow the container's own: the host's
 * pts/* (the container gets its own devpts), null, zero, full, random, urandom, tty, ptmx,
 * console. Directories are walked, not listed (the evaluation derives them from the paths).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeviceNode } from '../../devfs/evaluate.ts';

export const RUNTIME_DEFAULT_DEVICES: readonly string[] = [
  'null',
  'zero',
  'full',
  'random',
  'urandom',
  'tty',
  'ptmx',
  'console',
];

/** Linux's encoding of dev_t (glibc gnu_dev_major/minor). */
export function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
export function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

export function hostDeviceInventory(root = '/dev'): DeviceNode[] {
  const out: DeviceNode[] = [];
  const walk = (dir: string, rel: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (path === 'pts' || RUNTIME_DEFAULT_DEVICES.includes(path)) continue;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(join(dir, name));
      } catch {
        continue; // gone meanwhile
      }
      if (st.isDirectory()) {
        if (depth < 8) walk(join(dir, name), path, depth + 1);
        continue;
      }
      if (!st.isCharacterDevice() && !st.isBlockDevice()) continue;
      out.push({
        path,
        type: st.isCharacterDevice() ? 'c' : 'b',
        major: devMajor(Number(st.rdev)),
        minor: devMinor(Number(st.rdev)),
        mode: Number(st.mode) & 0o7777,
        uid: Number(st.uid),
        gid: Number(st.gid),
      });
    }
  };
  walk(root, '', 0);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Name -> id tables from /etc/passwd and /etc/group (devfs rules may name a user or group). */
export function hostIdTables(etc = '/etc'): {
  users: Record<string, number>;
  groups: Record<string, number>;
} {
  const read = (file: string): Record<string, number> => {
    const out: Record<string, number> = {};
    let text = '';
    try {
      text = readFileSync(join(etc, file), 'utf8');
    } catch {
      return out;
    }
    for (const line of text.split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) out[f[0]] = Number(f[2]);
    }
    return out;
  };
  return { users: read('passwd'), groups: read('group') };
}
