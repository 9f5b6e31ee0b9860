/**
 * Paths inside a container's root filesystem as the container sees them: a symlink's absolute
 * target is taken inside `root`, `..` never climbs above it. brigd (root on the host) resolves
 * every path into an untrusted image or container tree through here before using it; see
 * docs/architecture.md, "Untrusted root filesystems" (brig cp, the user database, volume copy-up).
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { BrigError } from '../errors/errors.ts';

/** Resolves `path` inside `root` following symlinks the container's way. Returns a host path. */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<string> {
  const todo = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let hops = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = `${root}/${[...done, part].join('/')}`;
    const st = await lstat(host).catch(() => undefined);
    if (st?.isSymbolicLink() && (followLast || todo.length > 0)) {
      if (++hops > 40) throw new BrigError('ERR_INVALID_ARGUMENT', `too many symbolic links in ${path}`);
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return done.length ? `${root}/${done.join('/')}` : root;
}
