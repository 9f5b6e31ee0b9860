/**
 * Export temporaries a killed brigd leaves next to the destination.
 *
 * `brig image export IMAGE DEST` writes DEST (outside the root) through a temporary beside it,
 * `.<basename of DEST>.brig-export-<12 hex digits>` (a file for `.tar`, a directory for a
 * layout), renamed onto DEST at the end and removed on failure. A brigd killed in between cannot
 * remove it, and nothing under the root points at it. So brigd records each export in flight:
 *
 *   <root>/exports/<random id>    holds DEST; created before the export starts, removed when it
 *                                 ends (success or failure)
 *
 * At start nothing is in flight, so every record left is an export that was cut short: `sweep`
 * removes the temporaries of that exact name pattern in DEST's directory, then the record. It
 * removes nothing else (not DEST, not other files).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';

export const EXPORT_TEMPORARY = /^\.(.+)\.brig-export-[0-9a-f]{12}$/;

export class ExportJournal {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'exports');
  }

  /** Runs `run` (an export to `dest`) with a record of it on disk while it runs. */
  async track<T>(dest: string, run: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const record = join(this.dir, randomBytes(8).toString('hex'));
    await writeFile(record, dest, { mode: 0o600 });
    try {
      return await run();
    } finally {
      await rm(record, { force: true });
    }
  }

  /** Removes the temporaries of the exports recorded (all cut short: call it before serving). */
  async sweep(): Promise<string[]> {
    let records: string[];
    try {
      records = await readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of records) {
      const record = join(this.dir, name);
      const dest = await readFile(record, 'utf8').catch(() => '');
      if (isAbsolute(dest)) {
        const parent = dirname(dest);
        const entries = await readdir(parent).catch(() => [] as string[]);
        for (const entry of entries) {
          if (EXPORT_TEMPORARY.exec(entry)?.[1] !== basename(dest)) continue;
          await rm(join(parent, entry), { recursive: true, force: true });
          removed.push(join(parent, entry));
        }
      }
      await rm(record, { force: true });
    }
    return removed;
  }
}
