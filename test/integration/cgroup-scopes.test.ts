/**
 * The daemon's parent cgroup (`brig-TAG`, src/platform/linux/cgroups.ts) on a real host: it is
 * removed with the last container released, but never under a container the runtime is creating
 * at that moment (runc makes the parent, then the container's cgroup in it; a release in between
 * made runc fail with "mkdir …: no such file or directory", seen with four `run --rm` at once).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import { test } from 'node:test';
import { cgroupDirs, ownCgroup, scopeParent } from '../../src/platform/linux/cgroups.ts';
import { LinuxPlatform } from '../../src/platform/linux/linux-platform.ts';
import { requires } from '../support/require.ts';

test(
  'a release keeps the parent cgroup while another scope is being created; the last release removes it',
  requires({ root: true, linux: true }),
  async (t) => {
    const p = new LinuxPlatform();
    const parent = scopeParent(await ownCgroup(), `scopes-${process.pid}`);
    t.after(async () => {
      for (const dir of await cgroupDirs(parent)) {
        for (const n of await readdir(dir).catch(() => [] as string[]))
          await rmdir(`${dir}/${n}`).catch(() => {});
        await rmdir(dir).catch(() => {});
      }
    });
    const a = `${parent}/a`;
    const b = `${parent}/b`;
    // a runs: the runtime made the parent and a's cgroup in every hierarchy
    await p.prepareResources('a', a, {});
    for (const dir of await cgroupDirs(a)) await mkdir(dir, { recursive: true });
    // b is being created: prepared, the runtime has found the parent and is about to make b's
    // cgroup in it when a exits and is released
    await p.prepareResources('b', b, {});
    await p.releaseResources('a', a);
    for (const dir of await cgroupDirs(b)) await mkdir(dir);
    for (const dir of await cgroupDirs(a)) assert.equal(existsSync(dir), false, dir);
    // b was the last: its release removes the parent too
    await p.releaseResources('b', b);
    for (const dir of await cgroupDirs(parent)) assert.equal(existsSync(dir), false, dir);
    // a scope released without a prepare (a crash leftover) and a second release are fine
    for (const dir of await cgroupDirs(a)) await mkdir(dir, { recursive: true });
    await p.releaseResources('a', a);
    await p.releaseResources('a', a);
    for (const dir of await cgroupDirs(parent)) assert.equal(existsSync(dir), false, dir);
  },
);
