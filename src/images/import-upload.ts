/**
 * Import uploads: an image archive sent in a request body (`brig image import -`, as `docker
 * load`) instead of named by a path on brigd's host. The client may be on another machine (a
 * forwarded socket): brigd never reads the client's files.
 *
 * An import reads its source more than once (classify, then copy the blobs), so the body is first
 * written to a private file under brigd's root, imported from there like a path, and removed
 * when the import ends, fails or is cancelled (the client went away: `signal`). A brigd killed
 * mid-upload leaves the file behind: `sweep()` at start-up removes every upload (nothing is in
 * flight then; the root lock keeps other brigds out).
 *
 * On disk (under the brig root):
 *   import/                 mode 0700
 *     upload-<hex>          one upload in flight, mode 0600
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BrigError, fromErrno, isBrigError } from '../errors/errors.ts';

export interface Upload {
  path: string;
  size: number;
  /** Removes the file (idempotent, never throws). */
  drop(): Promise<void>;
}

export class ImportUploads {
  readonly dir: string;

  /** `root`: the brig root; uploads go to `<root>/import/`. */
  constructor(root: string) {
    this.dir = join(root, 'import');
  }

  /**
   * Writes `body` to a new upload file. An empty body is ERR_IMAGE_SOURCE; an aborted `signal`
   * or a broken body stream rejects (with the signal's reason when aborted). The file is removed
   * on every failure.
   */
  async receive(body: Readable, signal?: AbortSignal): Promise<Upload> {
    signal?.throwIfAborted();
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `upload-${randomBytes(12).toString('hex')}`);
    const drop = () => rm(path, { force: true }).catch(() => {});
    try {
      await pipeline(body, createWriteStream(path, { mode: 0o600, flags: 'wx' }), {
        ...(signal ? { signal } : {}),
      });
      signal?.throwIfAborted();
      const { size } = await stat(path);
      if (size === 0) {
        throw new BrigError('ERR_IMAGE_SOURCE', 'the uploaded archive is empty', {
          hint: 'Send the archive on stdin: brig image import - < image.tar',
        });
      }
      return { path, size, drop };
    } catch (e) {
      await drop();
      if (signal?.aborted) throw signal.reason;
      if (isBrigError(e)) throw e;
      if ((e as NodeJS.ErrnoException).syscall !== undefined && (e as NodeJS.ErrnoException).path)
        throw fromErrno(e, path);
      throw new BrigError('ERR_REQUEST_CANCELLED', 'the upload broke off before the archive was complete', {
        cause: e,
      });
    }
  }

  /** Removes every upload left by an earlier brigd; returns their paths. Call before serving. */
  async sweep(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const n of names) {
      const p = join(this.dir, n);
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    }
    return removed;
  }
}
