/**
 * Layers: apply an OCI layer (a tar, plain or gzip/zstd-compressed) onto a directory, and make
 * a layer from the changes between two trees.
 *
 * Vocabulary: the *digest* of a layer is the sha256 of its bytes as stored (compressed); its
 * *diff_id* is the sha256 of the uncompressed tar. The *root* is the directory a layer is
 * applied onto; the *lower* tree is what the root held before.
 *
 * applyLayer(source, opts) — the contract:
 * - Streams: the layer is never held in memory or on disk; it is hashed, decompressed, parsed
 *   and applied as bytes arrive. Both digests are checked at the end; a mismatch fails with
 *   ERR_CONTENT_DIGEST_MISMATCH. On ANY failure the root is left half-applied: the caller
 *   throws it away (snapshotters apply into a fresh directory).
 * - Applies regular files, directories, symlinks, hardlinks, char/block devices, fifos, with
 *   modes (setuid, setgid, sticky included), uid/gid (unless `unprivileged`), mtimes (directory
 *   mtimes after their contents, symlinks' own mtimes) and extended attributes (`user.*`;
 *   `security.*` and `trusted.*` unless `unprivileged`; `trusted.overlay.*` from a layer is
 *   always dropped).
 * - Whiteouts (OCI image spec, "Representing changes"): `DIR/.wh.NAME` hides NAME of the lower
 *   tree, `DIR/.wh..wh..opq` hides every lower child of DIR. Neither touches what this same layer
 *   put there. With `whiteouts: 'delete'` (default) the lower paths are removed; with
 *   `'overlay'` (the root will be an overlayfs lower directory) NAME becomes a 0/0 character
 *   device and an opaque DIR gets `trusted.overlay.opaque=y`.
 * - Safety: nothing outside the root is ever created, changed or removed, whatever the tar
 *   says. Names and every symlink met while resolving them are resolved inside the root as
 *   chroot(2) would (an absolute symlink `var/run -> /run` means ROOT/run; `..` stops at the
 *   root); a final symlink is never followed when an entry is created or replaced; hardlink
 *   targets resolve the same way. What would still land outside (a name or hardlink target
 *   climbing above the root, a whiteout naming `..`) is refused with ERR_LAYER_UNSAFE_PATH,
 *   `details.entry` naming the entry. Absolute names are taken relative to the root.
 *   Device nodes fail with ERR_LAYER_DEVICE_REFUSED when `unprivileged`.
 * - Malformed tar: ERR_LAYER_INVALID; unknown compression: ERR_LAYER_COMPRESSION.
 *
 * createLayer(opts) writes a layer holding `changes` of the tree at `root` (or all of it) to
 * `output` (which it ends), and returns its digest, diff_id, size and media type:
 * - add/modify: the path with its current type, mode, owner, mtime, xattrs, content; each
 *   change names one path (a directory change does not imply its contents); the parent
 *   directories of every path are written too. `opaque` directories get `.wh..wh..opq`.
 * - delete: a `.wh.NAME` whiteout (an empty regular file) in the parent directory.
 * - Deterministic: entries sorted by path (whiteouts first within a directory), numeric
 *   owners only, no user names, integer mtimes clamped to `mtimeClamp` when given
 *   (SOURCE_DATE_EPOCH style), hardlinks between written files kept as hardlinks, fixed
 *   compression settings. Two runs over the same tree give the same digest.
 *
 * changesFromOverlayUpper(upperDir) lists what an overlayfs upper directory changes: a 0/0
 * character device is a delete, a directory with `trusted.overlay.opaque=y` is an opaque
 * directory (its lower children deleted), everything else is 'modify' (add and modify cannot
 * be told apart without the lower layers; createLayer treats them alike).
 *
 * changesFromTrees(lowerDir, upperDir) compares two trees: type, mode, uid/gid, size, mtime,
 * content, link target, device numbers and xattrs.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { pipeline, Readable } from 'node:stream';
import { BrigError, fromErrno } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { Applier } from './apply.ts';
import { type Compression, decompressor, detectCompression } from './compression.ts';
import { DATA, ENTRY, ENTRY_END, NEED_MORE, TarReader } from './tar/reader.ts';

export type { Change, ChangeKind } from './changes.ts';
export type { Compression } from './compression.ts';
export { type CreateLayerOptions, type CreateLayerResult, createLayer } from './create.ts';
export { changesFromOverlayUpper, changesFromTrees } from './diff.ts';

export interface ApplyLayerOptions {
  /** Directory to apply onto (must exist). */
  root: string;
  /** 'auto' (default) detects from the first bytes. */
  compression?: Compression | 'auto';
  /** sha256:… of the bytes as given (compressed). */
  expectedDigest?: string;
  /** sha256:… of the uncompressed tar. */
  expectedDiffId?: string;
  /** No chown, no devices (ERR_LAYER_DEVICE_REFUSED), only `user.*` xattrs. */
  unprivileged?: boolean;
  /** How whiteouts are recorded (default 'delete'). */
  whiteouts?: 'delete' | 'overlay';
  /** Runs setfattr/mknod/mkfifo (tests may inject one). */
  runner?: CommandRunner;
}

export interface ApplyLayerResult {
  digest: string;
  diffId: string;
  /** Bytes read from the source (compressed size). */
  size: number;
  /** Tar entries applied (PAX and GNU meta entries not counted). */
  entries: number;
}

/** Entries applied between two turns of the event loop (~5 ms of work for small files). */
const YIELD_EVERY = 256;

type Source = NodeJS.ReadableStream | AsyncIterable<Buffer>;

export async function applyLayer(source: Source, opts: ApplyLayerOptions): Promise<ApplyLayerResult> {
  let rootReal: string;
  try {
    rootReal = realpathSync(opts.root);
    if (!statSync(rootReal).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `layer root ${opts.root} is not a directory`, { cause: e });
  }
  if (rootReal === '/') throw new BrigError('ERR_INVALID_ARGUMENT', 'refusing to apply a layer onto /');
  const applier = new Applier({
    root: Buffer.from(rootReal, 'utf8').toString('latin1'),
    whiteouts: opts.whiteouts ?? 'delete',
    unprivileged: opts.unprivileged ?? false,
    runner: opts.runner ?? hostRunner,
  });

  const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  // Errors of the source (a read failing, a store refusing corrupt content) are not layer errors.
  const sourceErrors = new WeakSet<object>();
  let first: IteratorResult<Buffer | string>;
  try {
    first = await it.next();
  } catch (e) {
    throw e instanceof BrigError ? e : fromErrno(e, 'reading the layer');
  }
  const head = first.done ? Buffer.alloc(0) : toBuffer(first.value);
  const want = opts.compression ?? 'auto';
  const kind: Compression = want === 'auto' ? detectCompression(head) : want;

  const hashC = createHash('sha256');
  let size = 0;
  async function* compressed(): AsyncGenerator<Buffer> {
    try {
      if (!first.done) {
        hashC.update(head);
        size += head.length;
        yield head;
      }
      for (;;) {
        let r: IteratorResult<Buffer | string>;
        try {
          r = await it.next();
        } catch (e) {
          sourceErrors.add(e as object);
          throw e;
        }
        if (r.done) return;
        const b = toBuffer(r.value);
        hashC.update(b);
        size += b.length;
        yield b;
      }
    } finally {
      await it.return?.();
    }
  }

  const hashU = kind === 'none' ? null : createHash('sha256');
  let tarChunks: AsyncIterable<Buffer>;
  let dec: NodeJS.ReadWriteStream | null = null;
  if (kind === 'none') {
    tarChunks = compressed();
  } else {
    const d = decompressor(kind);
    dec = d;
    pipeline(Readable.from(compressed(), { objectMode: false }), d, () => {});
    tarChunks = d;
  }

  const reader = new TarReader();
  let current = '';
  let sinceYield = 0;
  try {
    for await (const chunk of tarChunks) {
      hashU?.update(chunk);
      reader.feed(chunk);
      for (;;) {
        const ev = reader.next();
        if (ev === NEED_MORE) break;
        if (ev === DATA) applier.data(reader.data);
        else if (ev === ENTRY) {
          current = reader.entry!.name;
          const p = applier.begin(reader.entry!);
          if (p !== undefined) await p;
          // Let the event loop breathe inside chunks of many small entries.
          if (++sinceYield === YIELD_EVERY) {
            sinceYield = 0;
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        } else if (ev === ENTRY_END) applier.end();
      }
    }
    reader.finish();
  } catch (e) {
    applier.abort();
    (dec as unknown as { destroy?: () => void } | null)?.destroy?.();
    if (e !== null && typeof e === 'object' && sourceErrors.has(e) && !(e instanceof BrigError)) {
      throw fromErrno(e, 'reading the layer');
    }
    throw translate(e, current, kind);
  }
  const digest = `sha256:${hashC.digest('hex')}`;
  const diffId = hashU === null ? digest : `sha256:${hashU.digest('hex')}`;
  if (opts.expectedDigest !== undefined && opts.expectedDigest !== digest) {
    throw new BrigError(
      'ERR_CONTENT_DIGEST_MISMATCH',
      `layer digest is ${digest}, expected ${opts.expectedDigest}`,
      {
        details: { expected: opts.expectedDigest, actual: digest },
      },
    );
  }
  if (opts.expectedDiffId !== undefined && opts.expectedDiffId !== diffId) {
    throw new BrigError(
      'ERR_CONTENT_DIGEST_MISMATCH',
      `layer diff_id is ${diffId}, expected ${opts.expectedDiffId}`,
      {
        details: { expected: opts.expectedDiffId, actual: diffId },
      },
    );
  }
  try {
    await applier.finish();
  } catch (e) {
    throw translate(e, '', kind);
  }
  return { digest, diffId, size, entries: reader.count };
}

function toBuffer(v: Buffer | string | Uint8Array): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v, 'latin1');
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Raw errors become BrigErrors here, naming the entry being applied. */
function translate(e: unknown, entryName: string, kind: Compression): BrigError {
  if (e instanceof BrigError) return e;
  const entry = Buffer.from(entryName, 'latin1').toString('utf8');
  const err = e as NodeJS.ErrnoException;
  const details = entryName ? { entry } : undefined;
  const where = entryName ? `layer entry ${entry}: ` : '';
  switch (err?.code) {
    case 'ENOSPC':
      return new BrigError('ERR_NO_SPACE', `${where}no space left on device`, { cause: e, details });
    case 'EPERM':
    case 'EACCES':
      return new BrigError('ERR_PERMISSION_DENIED', `${where}${err.message}`, { cause: e, details });
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
    case 'ERR_ZLIB_INITIALIZATION_FAILED':
      return new BrigError('ERR_LAYER_INVALID', `the layer is not valid ${kind} data: ${err.message}`, {
        cause: e,
      });
  }
  if (
    err?.errno === undefined &&
    kind !== 'none' &&
    /zstd|gzip|zlib|header|unexpected end/i.test(err?.message ?? '')
  ) {
    return new BrigError('ERR_LAYER_INVALID', `the layer is not valid ${kind} data: ${err.message}`, {
      cause: e,
    });
  }
  return new BrigError('ERR_LAYER_INVALID', `${where}${err?.message ?? String(e)}`, { cause: e, details });
}
