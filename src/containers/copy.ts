/**
 * `brig cp`: paths inside a running container's root filesystem, resolved as the container sees
 * them (a symlink's absolute target is taken relative to the container's root, `..` never climbs
 * above it), so a hostile image cannot make brigd read or write host files.
 * Copy in goes through src/layers' safe applier (entries escaping the target are refused).
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { BrigError } from '../errors/errors.ts';
import { applyLayer } from '../layers/layers.ts';

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

/** The parent directory (resolved) and the last name of `path` (kept as is: tar archives it). */
export async function safeJoin(root: string, path: string): Promise<{ parent: string; base: string }> {
  const n = posix.normalize(`/${path}`);
  if (n === '/') return { parent: root, base: '.' };
  const parent = await resolveInRoot(root, posix.dirname(n));
  const base = posix.basename(n);
  if (!(await lstat(`${parent}/${base}`).catch(() => undefined))) {
    throw new BrigError('ERR_NOT_FOUND', `${path}: no such file or directory in the container`);
  }
  return { parent, base };
}

/** Extracts a tar stream into the directory `path` of the container. */
export async function extractInto(root: string, path: string, tar: Readable): Promise<void> {
  const dir = await resolveInRoot(root, path);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `${path} is not a directory in the container`);
  }
  await applyLayer(tar, { root: dir, compression: 'auto' });
}
