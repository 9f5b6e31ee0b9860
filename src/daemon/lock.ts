/**
 * One brigd per root, enforced by a lock the kernel releases when the process dies.
 *
 * `brigd.lock` is a small SQLite database of its own (never brig.db), opened with
 * `PRAGMA locking_mode = EXCLUSIVE` and an exclusive transaction held open for the daemon's whole
 * life. SQLite takes POSIX advisory locks (fcntl) on the file, on Linux and FreeBSD alike, so:
 *   - two brigd started at the same moment cannot both hold it: the second gets SQLITE_BUSY at
 *     once (busy timeout 0) and fails with ERR_DAEMON_RUNNING, touching nothing;
 *   - a killed brigd (kill -9, crash, host reboot) holds nothing any more: no stale state to
 *     judge, no pid to trust (a pid can be reused by any process);
 *   - fcntl locks are not inherited by child processes, so containers' conmon/runtime processes
 *     that outlive brigd never keep the root locked.
 * The journal is kept in memory, so nothing but the empty lock file is ever left on disk.
 *
 * `brigd.pid` is information only (for operators and the ERR_DAEMON_RUNNING message): it is written
 * after the lock is held and removed at a clean stop.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BrigError } from '../errors/errors.ts';

export const LOCK_FILE = 'brigd.lock';
export const PID_FILE = 'brigd.pid';

/** The pid recorded in brigd.pid, if it reads as one (information: it may be stale). */
function recordedPid(root: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(root, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the root's lock or throws ERR_DAEMON_RUNNING (another brigd holds it) or
 * ERR_DAEMON_LOCK (the lock file cannot be used). Returns the release function.
 */
export async function acquireRootLock(root: string): Promise<() => Promise<void>> {
  const path = join(root, LOCK_FILE);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    try {
      db?.close();
    } catch {}
    const code = (e as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      const pid = recordedPid(root);
      throw new BrigError(
        'ERR_DAEMON_RUNNING',
        `another brigd${pid === undefined ? '' : ` (pid ${pid})`} already owns ${root}`,
        { details: { root, ...(pid === undefined ? {} : { pid }) } },
      );
    }
    throw new BrigError('ERR_DAEMON_LOCK', `cannot take the lock ${path}: ${(e as Error).message}`, {
      cause: e,
      details: { path },
    });
  }
  const held = db;
  // Information only; written whole (temporary + rename) so a reader never sees half a pid.
  const pidPath = join(root, PID_FILE);
  const tmp = `${pidPath}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(tmp, pidPath);
  } catch (e) {
    rmSync(tmp, { force: true });
    held.close();
    throw new BrigError('ERR_DAEMON_LOCK', `cannot write ${pidPath}: ${(e as Error).message}`, {
      cause: e,
      details: { path: pidPath },
    });
  }
  return async () => {
    // Still ours: nobody else can have written it while we hold the lock.
    if (recordedPid(root) === process.pid) rmSync(pidPath, { force: true });
    try {
      held.exec('ROLLBACK');
    } catch {}
    held.close();
  };
}
