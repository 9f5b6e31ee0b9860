/**
 * removeTree(path): `rm -rf` that reports the real cause when a file cannot be removed.
 *
 * Node's recursive rm, when unlink(2) of a file fails with EPERM (an immutable or append-only
 * file: chattr +i/+a), retries it as a directory and reports ENOTDIR from scandir on that
 * file, which hides the cause. removeTree asks unlink again for that path and throws its
 * error (EPERM, with the file's path) instead. Missing is fine.
 */
import { rm, unlink } from 'node:fs/promises';

export async function removeTree(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rm(path, { recursive: true, force: true });
      return;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOTDIR' || err.syscall !== 'scandir' || !err.path || attempt > 2) throw e;
      // the file node could not unlink: unlink it again and report its own error
      await unlink(err.path).catch((u: NodeJS.ErrnoException) => {
        throw u.code === 'ENOENT' ? e : u;
      });
    }
  }
}
