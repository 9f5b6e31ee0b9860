/**
 * LocalContentStore: the ContentStore (./store.ts) on a local filesystem, leases in brig.db.
 *
 * On disk (under <brig root>/content):
 *
 *   content/
 *     blobs/sha256/<hex>            committed blobs, mode 0444, always complete and verified
 *     ingest/<sha256(ref)>/         one in-flight ingestion per ref
 *       data                        the bytes written so far
 *       ref                         the ref, for humans and for `list` of ingestions
 *       resumable                   present when the ingestion may be resumed after a restart
 *
 * Why a blob under blobs/ is never partial: bytes only ever go to ingest/<ref>/data; commit
 * checks size and digest, fsyncs the file, renames it into blobs/ (rename(2) is atomic within one
 * filesystem: readers see the old state or the whole new file) and fsyncs the directory so the
 * rename survives a power cut. A crash before the rename leaves a stale ingest directory, which the
 * constructor removes (unless it is resumable and younger than `ingestTtlMs`).
 *
 * Two writers of the same blob: writers with the same ref are serialised in-process (the second
 * waits until the first commits or aborts, then starts its own ingestion; a blob committed twice is
 * replaced by identical bytes, atomically). Writers with different refs write different ingest
 * files and race only on the final rename, which is atomic and carries identical bytes. The data
 * file is opened O_CREAT|O_EXCL ('wx') for a fresh ingestion: if a file is somehow there although
 * no writer in this process holds the ref (a second process on the same root, which brigd's root
 * lock forbids), we fail instead of interleaving bytes into someone else's file.
 *
 * GC and leases: a writer given a lease records (lease, digest) in lease_blobs BEFORE the rename,
 * and `gc` lists blobs on disk BEFORE it reads leases and roots. So any blob gc sees on disk whose
 * writer holds a lease has its lease row visible to gc: committed content under a lease is never
 * collected. Roots may be given as a function, evaluated after the disk listing, for the same
 * reason (an image record written after a listing is still seen).
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import {
  chmod,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { BrigError, fromErrno, isBrigError } from '../errors/errors.ts';
import type { DB } from '../metadata/db.ts';
import { digestHex, isDigest, parseDigest } from './digest.ts';
import { childReferences, MAX_MANIFEST_BYTES, REFERENCING_MEDIA_TYPES } from './references.ts';
import type { BlobInfo, ContentStore, Digest, Writer, WriterOptions } from './store.ts';

const CHUNK = 1 << 20;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface LocalContentStoreOptions {
  /** Resumable ingestions older than this are removed on open (default 24 h). */
  ingestTtlMs?: number;
}

export class LocalContentStore implements ContentStore {
  /** <brig root>/content */
  readonly dir: string;
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly db: DB;
  /** ref -> tail of the queue of writers holding that ref. */
  private readonly refLocks = new Map<string, Promise<void>>();
  private gcRunning: Promise<unknown> = Promise.resolve();
  /** Ingest directories (their refs) the constructor removed: what crashed ingestions left. */
  readonly removedAtOpen: string[] = [];

  constructor(root: string, db: DB, opts: LocalContentStoreOptions = {}) {
    this.dir = join(root, 'content');
    this.blobsDir = join(this.dir, 'blobs', 'sha256');
    this.ingestDir = join(this.dir, 'ingest');
    this.db = db;
    mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
    this.cleanIngest(opts.ingestTtlMs ?? DAY_MS);
  }

  /** Removes what crashed ingestions left behind (synchronous: runs before any writer exists). */
  private cleanIngest(ttlMs: number): void {
    const now = Date.now();
    for (const name of readdirSync(this.ingestDir)) {
      const p = join(this.ingestDir, name);
      let keep = false;
      try {
        const st = statSync(join(p, 'resumable'));
        keep = now - st.mtimeMs < ttlMs && statSync(join(p, 'data')).isFile();
      } catch {}
      if (keep) continue;
      let ref = name;
      try {
        ref = readFileSync(join(p, 'ref'), 'utf8');
      } catch {}
      rmSync(p, { recursive: true, force: true });
      this.removedAtOpen.push(ref);
    }
  }

  blobPath(digest: Digest): string {
    return join(this.blobsDir, digestHex(parseDigest(digest)));
  }

  // ---- Ingester ---------------------------------------------------------------------------------

  async writer(opts: WriterOptions): Promise<Writer> {
    if (opts.digest !== undefined) parseDigest(opts.digest, 'expected digest');
    if (opts.size !== undefined && !(Number.isSafeInteger(opts.size) && opts.size >= 0)) {
      throw new BrigError('ERR_INVALID_ARGUMENT', `expected size ${opts.size} is not a non-negative integer`);
    }
    const ref = opts.ref ?? opts.digest;
    if (!ref) throw new BrigError('ERR_INVALID_ARGUMENT', 'a writer needs a ref or an expected digest');
    if (opts.lease !== undefined) this.requireLease(opts.lease);
    const release = await this.lockRef(ref);
    try {
      const dir = join(this.ingestDir, createHash('sha256').update(ref).digest('hex'));
      const data = join(dir, 'data');
      const hash = createHash('sha256');
      let fh: FileHandle;
      let offset = 0;
      if (opts.resume) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        fh = await open(data, 'a+', 0o600);
        // re-hash what an earlier attempt wrote: we trust no state but the bytes themselves
        const size = (await fh.stat()).size;
        const buf = Buffer.allocUnsafe(CHUNK);
        while (offset < size) {
          const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - offset), offset);
          if (bytesRead === 0) break;
          hash.update(buf.subarray(0, bytesRead));
          offset += bytesRead;
        }
        await writeFile(join(dir, 'resumable'), '');
      } else {
        // A leftover for this ref can only be a dead ingestion (we hold the ref lock).
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true, mode: 0o700 });
        fh = await open(data, 'wx', 0o600);
      }
      await writeFile(join(dir, 'ref'), ref);
      return new LocalWriter(this, { ...opts, ref }, dir, fh, hash, offset, release);
    } catch (e) {
      release();
      throw isBrigError(e) ? e : fromErrno(e, `content ingest ${ref}`);
    }
  }

  private async lockRef(ref: string): Promise<() => void> {
    const prev = this.refLocks.get(ref) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    const tail = prev.then(() => mine);
    this.refLocks.set(ref, tail);
    await prev;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      if (this.refLocks.get(ref) === tail) this.refLocks.delete(ref);
    };
  }

  /** Called by LocalWriter.commit once the data file is complete, verified and fsynced. */
  async publish(tmp: string, digest: Digest, lease: string | undefined): Promise<void> {
    if (lease !== undefined) this.addToLeaseSync(lease, digest);
    await chmod(tmp, 0o444);
    await rename(tmp, this.blobPath(digest));
    await fsyncDir(this.blobsDir);
  }

  async ingest(
    source: Readable | AsyncIterable<Buffer> | Buffer,
    opts: WriterOptions = {},
  ): Promise<BlobInfo> {
    if (opts.digest !== undefined && (await this.has(opts.digest))) {
      const info = await this.info(opts.digest);
      // A stored blob of another size than announced is damaged (truncated or replaced on disk)
      // or the announcement is wrong: the source is ingested and verified; its commit renames a
      // good copy over the damaged one, and a wrong announcement fails it, leaving the blob as it was.
      if (opts.size === undefined || info.size === opts.size) {
        if (opts.lease !== undefined) await this.addToLease(opts.lease, opts.digest);
        return info;
      }
    }
    const w = await this.writer({
      ...opts,
      ref: opts.ref ?? opts.digest ?? `ingest-${randomBytes(12).toString('hex')}`,
    });
    try {
      if (Buffer.isBuffer(source)) {
        await w.write(source);
      } else {
        for await (const chunk of source as AsyncIterable<Buffer>) await w.write(chunk);
      }
      return await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }

  // ---- Provider ---------------------------------------------------------------------------------

  async has(digest: Digest): Promise<boolean> {
    try {
      return (await stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  async info(digest: Digest): Promise<BlobInfo> {
    try {
      const st = await stat(this.blobPath(digest));
      return { digest, size: st.size, createdAt: Math.floor(st.mtimeMs) };
    } catch (e) {
      throw notFound(digest, e);
    }
  }

  reader(digest: Digest, opts: { verify?: boolean; start?: number } = {}): Readable {
    const path = this.blobPath(digest);
    const start = opts.start ?? 0;
    if (opts.verify && start !== 0) {
      throw new BrigError('ERR_INVALID_ARGUMENT', 'a blob read from an offset cannot be verified');
    }
    const src = createReadStream(path, { start, highWaterMark: CHUNK });
    const out = opts.verify ? verifyingTransform(digest) : new PassThrough({ highWaterMark: CHUNK });
    src.on('error', (e) => out.destroy(isBrigError(e) ? e : notFound(digest, e)));
    out.on('close', () => src.destroy());
    return src.pipe(out);
  }

  async readBytes(digest: Digest, opts: { verify?: boolean } = {}): Promise<Buffer> {
    let buf: Buffer;
    try {
      buf = await readFile(this.blobPath(digest));
    } catch (e) {
      throw notFound(digest, e);
    }
    if (opts.verify) {
      const got = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
      if (got !== digest) throw corrupt(digest, got);
    }
    return buf;
  }

  // ---- Manager ----------------------------------------------------------------------------------

  async *list(): AsyncIterable<BlobInfo> {
    for (const name of await readdir(this.blobsDir)) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      try {
        const st = await stat(join(this.blobsDir, name));
        if (st.isFile()) yield { digest, size: st.size, createdAt: Math.floor(st.mtimeMs) };
      } catch {}
    }
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (e) {
      throw notFound(digest, e);
    }
  }

  // ---- Leases -----------------------------------------------------------------------------------

  async createLease(
    opts: { id?: string; expiresInMs?: number; labels?: Record<string, string> } = {},
  ): Promise<string> {
    const id = opts.id ?? `lease-${randomBytes(12).toString('hex')}`;
    const now = Date.now();
    try {
      this.db
        .prepare('INSERT INTO leases (id, created_at, expires_at, labels) VALUES (?, ?, ?, ?)')
        .run(
          id,
          now,
          opts.expiresInMs === undefined ? null : now + opts.expiresInMs,
          JSON.stringify(opts.labels ?? {}),
        );
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new BrigError('ERR_ALREADY_EXISTS', `lease ${id} already exists`, { cause: e });
      }
      throw new BrigError('ERR_DB', `cannot create lease: ${(e as Error).message}`, { cause: e });
    }
    return id;
  }

  async addToLease(lease: string, digest: Digest): Promise<void> {
    parseDigest(digest);
    this.addToLeaseSync(lease, digest);
  }

  private addToLeaseSync(lease: string, digest: Digest): void {
    this.requireLease(lease);
    this.db.prepare('INSERT OR IGNORE INTO lease_blobs (lease_id, digest) VALUES (?, ?)').run(lease, digest);
  }

  private requireLease(lease: string): void {
    if (!this.db.prepare('SELECT 1 FROM leases WHERE id = ?').get(lease)) {
      throw new BrigError('ERR_LEASE_NOT_FOUND', `no lease ${lease}`);
    }
  }

  async deleteLease(lease: string): Promise<void> {
    const r = this.db.prepare('DELETE FROM leases WHERE id = ?').run(lease);
    if (r.changes === 0) throw new BrigError('ERR_LEASE_NOT_FOUND', `no lease ${lease}`);
  }

  /**
   * Deletes every lease, expired or not, and returns what they were. Only for a store no operation
   * is using: brigd calls it at start-up, when every lease in brig.db was made by an earlier
   * process (an import or pull it was running when it was killed or stopped) and has no owner
   * left. The blobs those leases pinned are then ordinary garbage for the next `gc`.
   */
  dropAllLeases(): Array<{ id: string; labels: Record<string, string>; blobs: number }> {
    return this.db.transaction(() => {
      const rows = this.db
        .prepare(
          'SELECT l.id AS id, l.labels AS labels, COUNT(b.digest) AS blobs FROM leases l LEFT JOIN lease_blobs b ON b.lease_id = l.id GROUP BY l.id ORDER BY l.created_at',
        )
        .all() as Array<{ id: string; labels: string; blobs: number }>;
      this.db.prepare('DELETE FROM lease_blobs').run();
      this.db.prepare('DELETE FROM leases').run();
      return rows.map((r) => {
        let labels: Record<string, string> = {};
        try {
          labels = JSON.parse(r.labels) as Record<string, string>;
        } catch {}
        return { id: r.id, labels, blobs: r.blobs };
      });
    })();
  }

  /** Digests held by live (unexpired) leases; expired leases are deleted on the way. */
  private leasedDigests(): Set<string> {
    const now = Date.now();
    this.db.prepare('DELETE FROM leases WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now);
    return new Set(this.db.prepare('SELECT DISTINCT digest FROM lease_blobs').pluck().all() as string[]);
  }

  // ---- GC ---------------------------------------------------------------------------------------

  gc(
    roots: Iterable<Digest> | (() => Iterable<Digest>),
    opts: { only?: Iterable<Digest> } = {},
  ): Promise<{ removed: Digest[]; bytes: number }> {
    const only = opts.only === undefined ? undefined : new Set<string>(opts.only);
    const run = this.gcRunning.then(() => this.gcOnce(roots, only));
    this.gcRunning = run.catch(() => {});
    return run;
  }

  private async gcOnce(
    roots: Iterable<Digest> | (() => Iterable<Digest>),
    only: Set<string> | undefined,
  ): Promise<{ removed: Digest[]; bytes: number }> {
    // Order matters (see the header): disk first, then leases and roots.
    const onDisk: BlobInfo[] = [];
    for await (const b of this.list()) if (only === undefined || only.has(b.digest)) onDisk.push(b);
    const keep = this.leasedDigests();
    const rootList = typeof roots === 'function' ? roots() : roots;
    const queue: { digest: Digest; mediaType?: string }[] = [];
    for (const r of rootList) queue.push({ digest: r });
    // Leased manifests keep what they reference too (an import in progress).
    for (const d of keep) if (isDigest(d)) queue.push({ digest: d });
    const reached = new Set<string>();
    while (queue.length) {
      const { digest, mediaType } = queue.pop()!;
      if (reached.has(digest)) continue;
      reached.add(digest);
      if (mediaType !== undefined && mediaType !== '' && !REFERENCING_MEDIA_TYPES.has(mediaType)) continue;
      const buf = await this.readSmall(digest);
      if (buf) for (const c of childReferences(buf)) queue.push(c);
    }
    const removed: Digest[] = [];
    let bytes = 0;
    for (const b of onDisk) {
      if (reached.has(b.digest) || keep.has(b.digest)) continue;
      try {
        await unlink(this.blobPath(b.digest));
        removed.push(b.digest);
        bytes += b.size;
      } catch {}
    }
    return { removed, bytes };
  }

  /** A blob's bytes when it is small enough to be a manifest and starts like JSON. */
  private async readSmall(digest: Digest): Promise<Buffer | undefined> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(this.blobPath(digest), 'r');
      const st = await fh.stat();
      if (st.size > MAX_MANIFEST_BYTES || st.size === 0) return undefined;
      const buf = await fh.readFile();
      const first = buf.toString('latin1', 0, 64).trimStart()[0];
      return first === '{' ? buf : undefined;
    } catch {
      return undefined;
    } finally {
      await fh?.close();
    }
  }
}

class LocalWriter implements Writer {
  private done = false;
  private _offset: number;

  constructor(
    private readonly store: LocalContentStore,
    private readonly opts: WriterOptions & { ref: string },
    private readonly dir: string,
    private readonly fh: FileHandle,
    private readonly hash: Hash,
    offset: number,
    private readonly release: () => void,
  ) {
    this._offset = offset;
  }

  get offset(): number {
    return this._offset;
  }

  async write(data: Buffer | readonly Buffer[]): Promise<void> {
    if (this.done) throw new BrigError('ERR_INTERNAL', `write after commit/abort of ${this.opts.ref}`);
    const chunks = Buffer.isBuffer(data) ? [data] : data;
    let length = 0;
    for (const c of chunks) length += c.length;
    if (this.opts.size !== undefined && this._offset + length > this.opts.size) {
      // Refuse at once: a source that sends more than announced (a huge or lying blob) never fills the disk.
      await this.abort();
      throw new BrigError(
        'ERR_CONTENT_SIZE_MISMATCH',
        `${this.opts.digest ?? this.opts.ref}: more than the announced ${this.opts.size} bytes`,
      );
    }
    try {
      // several buffers: one writev (a short write, rare on files, is finished buffer by buffer)
      let written = chunks.length > 1 ? (await this.fh.writev(chunks, this._offset)).bytesWritten : 0;
      let pos = this._offset;
      for (const chunk of chunks) {
        let off = Math.min(written, chunk.length);
        written -= off;
        while (off < chunk.length) {
          const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off, pos + off);
          off += bytesWritten;
        }
        pos += chunk.length;
      }
    } catch (e) {
      await this.abort();
      throw fromErrno(e, `content ingest ${this.opts.ref}`);
    }
    for (const chunk of chunks) this.hash.update(chunk);
    this._offset += length;
  }

  async commit(): Promise<BlobInfo> {
    if (this.done) throw new BrigError('ERR_INTERNAL', `commit after commit/abort of ${this.opts.ref}`);
    const { size, digest: expected } = this.opts;
    if (size !== undefined && this._offset !== size) {
      await this.abort();
      throw new BrigError(
        'ERR_CONTENT_SIZE_MISMATCH',
        `${expected ?? this.opts.ref}: got ${this._offset} bytes, announced ${size}`,
        { details: { expected: size, actual: this._offset } },
      );
    }
    const digest: Digest = `sha256:${this.hash.digest('hex')}`;
    if (expected !== undefined && digest !== expected) {
      await this.abort();
      throw new BrigError('ERR_CONTENT_DIGEST_MISMATCH', `bytes announced as ${expected} hash to ${digest}`, {
        details: { expected, actual: digest },
      });
    }
    try {
      await this.fh.sync();
      await this.fh.close();
      await this.store.publish(join(this.dir, 'data'), digest, this.opts.lease);
      await rm(this.dir, { recursive: true, force: true });
    } catch (e) {
      await this.abort();
      throw isBrigError(e) ? e : fromErrno(e, `content commit ${digest}`);
    }
    this.done = true;
    this.release();
    return { digest, size: this._offset, createdAt: Date.now() };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await rm(this.dir, { recursive: true, force: true }).catch(() => {});
    this.release();
  }
}

function verifyingTransform(digest: Digest): Transform {
  const h = createHash('sha256');
  return new Transform({
    highWaterMark: CHUNK,
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
    flush(cb) {
      const got = `sha256:${h.digest('hex')}`;
      cb(got === digest ? null : corrupt(digest, got));
    },
  });
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function notFound(digest: Digest, cause: unknown): BrigError {
  if ((cause as NodeJS.ErrnoException)?.code === 'ENOENT') {
    return new BrigError('ERR_CONTENT_NOT_FOUND', `blob ${digest} is not in the content store`, { cause });
  }
  return fromErrno(cause, `blob ${digest}`);
}

function corrupt(digest: Digest, got: string): BrigError {
  return new BrigError('ERR_CONTENT_CORRUPT', `stored blob ${digest} hashes to ${got}`, {
    details: { expected: digest, actual: got },
  });
}
