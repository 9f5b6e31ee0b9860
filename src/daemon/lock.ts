/**
 * One brigd per root. `brigd.pid` is created with O_EXCL; a file left by a daemon that is no
 * longer alive (kill -9, crash) is taken over. A live owner means ERR_DAEMON_RUNNING.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError } from '../errors/errors.ts';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireRootLock(root: string): Promise<() => Promise<void>> {
  const path = join(root, 'brigd.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        try {
          if (Number((await readFile(path, 'utf8')).trim()) === process.pid) await rm(path, { force: true });
        } catch {}
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner !== process.pid && alive(owner)) {
        throw new BrigError('ERR_DAEMON_RUNNING', `brigd (pid ${owner}) already owns ${root}`, {
          details: { pid: owner, root },
        });
      }
      await rm(path, { force: true });
    }
  }
  throw new BrigError('ERR_DAEMON_RUNNING', `cannot take the lock ${path}`);
}
