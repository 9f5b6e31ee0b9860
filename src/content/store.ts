/**
 * The content store: immutable blobs addressed by their sha256 digest.
 *
 * Vocabulary (containerd's):
 *   - Ingester: `writer()` starts an ingestion of one blob under a `ref` (a caller-chosen key that
 *     makes two concurrent writers of the same blob safe: the second waits or shares, never
 *     corrupts); `Writer.commit()` checks size and digest and publishes the blob atomically
 *     (temporary file in `content/ingest/`, fsync, rename into `content/blobs/sha256/`).
 *   - Provider: `reader()` / `readBytes()` read a committed blob, optionally verifying it.
 *   - Manager: `info()`, `has()`, `list()`, `delete()`.
 *   - Leases: content referenced by a live lease is never garbage-collected, so a pull or an
 *     import in progress keeps what it has written before an image record points at it.
 *   - GC: `gc(roots)` deletes every blob not reachable from `roots` (image targets) through
 *     index/manifest references and not held by a lease.
 *
 * Contract: a blob visible under `blobs/` is always complete and matches its digest; a crash at
 * any point leaves at most a stale file under `ingest/`, which `open()` removes.
 *
 * On disk (under the store's root, normally <brig root>/content):
 *   blobs/sha256/<hex>        committed blobs, mode 0444
 *   ingest/<ref-hash>/data    in-flight writes
 */
import type { Readable } from 'node:stream';

export type Digest = `sha256:${string}`;

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: {
    os: string;
    architecture: string;
    variant?: string;
    'os.version'?: string;
    'os.features'?: string[];
  };
  urls?: string[];
}

export interface BlobInfo {
  digest: Digest;
  size: number;
  /** Milliseconds since the epoch when the blob was committed. */
  createdAt: number;
}

export interface Expected {
  /** When given, commit fails with ERR_CONTENT_DIGEST_MISMATCH if the bytes hash otherwise. */
  digest?: Digest;
  /** When given, commit fails with ERR_CONTENT_SIZE_MISMATCH if the length differs. */
  size?: number;
}

export interface Writer {
  /** Bytes already written (a resumed ingestion starts where the last one stopped). */
  readonly offset: number;
  /** Appends bytes; several buffers go down in one write (no copy into one buffer). */
  write(chunk: Buffer | readonly Buffer[]): Promise<void>;
  /** Verifies size and digest, fsyncs and publishes; returns the committed blob. */
  commit(): Promise<BlobInfo>;
  /** Drops the ingestion; nothing becomes visible. */
  abort(): Promise<void>;
}

export interface WriterOptions extends Expected {
  /** Ingestion key; defaults to the expected digest. */
  ref?: string;
  /** Lease that protects the blob from GC once committed. */
  lease?: string;
  /** Keep bytes of an earlier interrupted ingestion with the same ref (for resumed downloads). */
  resume?: boolean;
}

export interface ContentStore {
  writer(opts: WriterOptions): Promise<Writer>;
  /**
   * Convenience: ingest a whole stream or buffer. Returns at once if the blob already exists with
   * the expected size; one stored with another size is replaced by the source's verified bytes.
   */
  ingest(source: Readable | AsyncIterable<Buffer> | Buffer, opts?: WriterOptions): Promise<BlobInfo>;
  has(digest: Digest): Promise<boolean>;
  info(digest: Digest): Promise<BlobInfo>;
  /** Streams a blob; with `verify`, the stream errors with ERR_CONTENT_CORRUPT at the end if the bytes do not match. */
  reader(digest: Digest, opts?: { verify?: boolean; start?: number }): Readable;
  readBytes(digest: Digest, opts?: { verify?: boolean }): Promise<Buffer>;
  /** Path of a committed blob, for tools that need a file (read only!). */
  blobPath(digest: Digest): string;
  list(): AsyncIterable<BlobInfo>;
  delete(digest: Digest): Promise<void>;

  createLease(opts?: { id?: string; expiresInMs?: number; labels?: Record<string, string> }): Promise<string>;
  addToLease(lease: string, digest: Digest): Promise<void>;
  deleteLease(lease: string): Promise<void>;

  /**
   * Deletes unreferenced blobs. Returns what was removed. Give `roots` as a function to have it
   * evaluated after the store has listed its blobs (then a root recorded concurrently is not missed).
   * With `only`, just those blobs are candidates (an undo removes what it added, nothing else).
   */
  gc(
    roots: Iterable<Digest> | (() => Iterable<Digest>),
    opts?: { only?: Iterable<Digest> },
  ): Promise<{ removed: Digest[]; bytes: number }>;
}
