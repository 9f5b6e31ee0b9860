/**
 * Performing the `Mount`s a snapshotter returns. Snapshotters only describe mounts; whoever needs
 * the tree mounted (the runtime for a container's rootfs, unpack when a snapshotter has no
 * `directWrite`, tests) calls `mountAll`, which runs mount(8) through the exec door.
 *
 * - `mountAll(mounts, target)` mounts them in order, the first on `target`, the others on
 *   `target/<m.target>`. On failure it unmounts what it mounted and rethrows.
 * - type 'bind': `mount --bind` (or `--rbind` with option 'rbind'), then a read-only remount when
 *   'ro' is asked (a bind ignores 'ro' on the first call), then `--make-rprivate`, so that mounts
 *   later made inside the target (volumes) never propagate back into the snapshot's directory.
 * - any other type: `mount -t TYPE -o OPTIONS SOURCE DEST`, run in `m.cwd` when set (overlay with
 *   relative lowerdir paths).
 * - `unmountAll(target, count)` unmounts in reverse order, lazily only if asked.
 */
import { join } from 'node:path';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import type { Mount } from './snapshotter.ts';

function dest(target: string, m: Mount): string {
  return m.target ? join(target, m.target) : target;
}

async function mountOne(m: Mount, where: string, runner: CommandRunner): Promise<void> {
  if (m.type === 'bind') {
    const recursive = m.options.includes('rbind');
    await runner.run('mount', [recursive ? '--rbind' : '--bind', '--', m.source, where]);
    try {
      const extra = m.options.filter((o) => !['bind', 'rbind', 'rw'].includes(o));
      if (extra.length > 0)
        await runner.run('mount', ['-o', ['remount', 'bind', ...extra].join(','), '--', where]);
      await runner.run('mount', [recursive ? '--make-rprivate' : '--make-private', '--', where]);
    } catch (e) {
      await runner.run('umount', recursive ? ['-R', where] : [where], { check: false });
      throw e;
    }
    return;
  }
  const args = ['-t', m.type];
  if (m.options.length > 0) args.push('-o', m.options.join(','));
  args.push('--', m.source, where);
  await runner.run('mount', args, m.cwd ? { cwd: m.cwd } : {});
}

export async function mountAll(
  mounts: readonly Mount[],
  target: string,
  runner: CommandRunner = hostRunner,
): Promise<void> {
  const done: Array<{ where: string; bind: boolean }> = [];
  try {
    for (const m of mounts) {
      const where = dest(target, m);
      await mountOne(m, where, runner);
      done.push({ where, bind: m.type === 'bind' });
    }
  } catch (e) {
    // `umount -R` only for Linux bind mounts (FreeBSD's umount has no -R; nothing is below the
    // others, which are unmounted in reverse order)
    for (const d of done.reverse())
      await runner.run('umount', d.bind ? ['-R', d.where] : [d.where], { check: false });
    throw e;
  }
}

/** Unmounts everything mounted at or below `target` by `mountAll(mounts, target)`. */
export async function unmountAll(
  mounts: readonly Mount[],
  target: string,
  opts: { lazy?: boolean; runner?: CommandRunner } = {},
): Promise<void> {
  const runner = opts.runner ?? hostRunner;
  const wheres = mounts.map((m) => dest(target, m)).reverse();
  for (const where of wheres) {
    await runner.run('umount', opts.lazy ? ['-R', '-l', where] : ['-R', where]);
  }
}
