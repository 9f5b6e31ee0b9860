/**
 * LocalImageService: the ImageService (./image-service.ts) over a ContentStore and brig.db.
 */
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { addAbortSignal, type Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { digestHex, isDigest } from '../content/digest.ts';
import { MAX_MANIFEST_BYTES } from '../content/references.ts';
import type { ContentStore, Descriptor, Digest } from '../content/store.ts';
import { BrigError, fromErrno, isBrigError } from '../errors/errors.ts';
import { detectCompression, MEDIA_TYPES as LAYER_MEDIA_TYPES } from '../layers/compression.ts';
import { applyLayer, createLayer } from '../layers/index.ts';
import { tarEntry } from '../layers/tar/tar.ts';
import { encodeHeader, endOfArchive, padding } from '../layers/tar/writer.ts';
import type { DB } from '../metadata/db.ts';
import { bufferSink, type EntrySink, walkArchive } from './archive.ts';
import { parseBrigSection } from './brig-section.ts';
import { Checker } from './check.ts';
import type {
  ExportResult,
  ImageDetails,
  ImageService,
  ImageSummary,
  ImportOptions,
  ImportResult,
  PruneResult,
  RemoveResult,
  SourceKind,
  UnpackResult,
} from './image-service.ts';
import { type ImageRecord, ImageStore, isDanglingName } from './image-store.ts';
import {
  checkConfigMatchesManifest,
  type ImageConfig,
  type ImageManifest,
  isIndexMediaType,
  isManifestMediaType,
  layerCompression,
  MEDIA_TYPES,
  parseConfig,
  parseIndex,
  parseJson,
  parseManifest,
} from './oci.ts';
import { formatPlatform, normalizePlatform, type PlatformSpec, selectPlatform } from './platform.ts';
import { parseReference, type Reference } from './reference.ts';
import { RWLock } from './rwlock.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

export interface LocalImageServiceOptions {
  content: ContentStore;
  db: DB;
  /** The host's platform: the default when an index is imported, and the os/arch of rootfs imports. */
  platform: PlatformSpec;
  /** Event sink (brigd passes its EventLog). */
  emit?: (action: string, id: string, attributes: Record<string, string>) => void;
  /** Unpack without chown and devices (brigd not running as root). */
  unprivileged?: boolean;
  /**
   * The layer GC run after rm and prune (brigd: src/snapshots/gc.ts over its snapshotter): removes
   * the unpacked layers that none of `keep` needs (the diff ids of every image still recorded and
   * of every image config a live lease holds: a pull records its image after its unpack ended).
   * Absent: layers are left alone.
   */
  layers?: (keep: Array<readonly string[]>) => Promise<{ removed: readonly string[]; bytes: number }>;
  /**
   * Turns a name someone wrote (an image argument, a tag target, import's name and ref) into its
   * canonical reference. brigd passes the resolver of its `registries` configuration
   * (src/registry/names.ts), so a short name means the configured default registry everywhere.
   * Default: docker's rules (parseReference). Names written inside an import source (annotations,
   * RepoTags) are always read with docker's rules: docker, skopeo and brig wrote them that way.
   */
  normalize?: (name: string) => Reference;
}

type Opener = (d: Descriptor) => Promise<Readable>;

interface Resolved {
  target: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
  defaultName?: string;
}

/** One import: its lease, the blobs it added, and its undo list. */
class ImportSession {
  readonly created = new Set<Digest>();
  /**
   * `repair`: an import, whose source can replace a damaged blob. A pull's record has no other
   * copy, and its blobs were verified as they arrived: it does not hash them again.
   */
  constructor(
    readonly content: ContentStore,
    readonly lease: string,
    readonly repair = true,
    /** Cancels the import (ImportOptions.signal): every source stream it opens is destroyed. */
    readonly signal?: AbortSignal,
  ) {}

  /** `s`, destroyed with the signal's reason when the import is cancelled. */
  abortable<S extends Readable>(s: S): S {
    return this.signal ? addAbortSignal(this.signal, s) : s;
  }

  /** walkArchive, cancelled with the import. */
  walk(path: string, onEntry: Parameters<typeof walkArchive>[1], onChunk?: (chunk: Buffer) => void) {
    return walkArchive(path, onEntry, onChunk, this.signal);
  }

  /**
   * Makes sure the blob is in the store (verified) and held by the lease. With `repair`, a blob
   * already stored is hashed first: one damaged on disk (its bytes no longer hash to its digest)
   * is replaced by the source's copy, verified as it is copied and renamed over the damaged file
   * (never absent).
   */
  async ensure(d: Descriptor, openBlob: Opener): Promise<void> {
    this.signal?.throwIfAborted();
    await this.content.addToLease(this.lease, d.digest);
    if (await this.content.has(d.digest)) {
      if (this.repair && (await isDamaged(this.content, d.digest))) {
        const src = this.abortable(await openBlob(d));
        try {
          const w = await this.content.writer({
            digest: d.digest,
            size: d.size,
            lease: this.lease,
            ref: `repair-${d.digest}`,
          });
          try {
            for await (const chunk of src as AsyncIterable<Buffer>) await w.write(chunk);
            await w.commit();
          } catch (e) {
            await w.abort().catch(() => {});
            throw e;
          }
        } finally {
          src.destroy();
        }
        return;
      }
      const { size } = await this.content.info(d.digest);
      if (size !== d.size) {
        throw new BrigError(
          'ERR_CONTENT_SIZE_MISMATCH',
          `blob ${d.digest} is ${size} bytes, its descriptor says ${d.size}`,
          {
            details: { digest: d.digest, expected: d.size, actual: size },
          },
        );
      }
      return;
    }
    const src = this.abortable(await openBlob(d));
    try {
      await this.content.ingest(src, { digest: d.digest, size: d.size, lease: this.lease });
    } finally {
      src.destroy();
    }
    this.created.add(d.digest);
  }

  async json(d: Descriptor, openBlob: Opener, what: string): Promise<unknown> {
    if (d.size > MAX_MANIFEST_BYTES) {
      throw new BrigError(
        'ERR_IMAGE_INVALID',
        `${what} declares ${d.size} bytes; brig accepts at most ${MAX_MANIFEST_BYTES}`,
        {
          details: { digest: d.digest, size: d.size },
        },
      );
    }
    await this.ensure(d, openBlob);
    return parseJson(await this.content.readBytes(d.digest, { verify: true }), what);
  }
}

export class LocalImageService implements ImageService {
  readonly records: ImageStore;
  private readonly content: ContentStore;
  private readonly db: DB;
  private readonly host: PlatformSpec;
  private readonly emit: NonNullable<LocalImageServiceOptions['emit']>;
  private readonly unprivileged: boolean;
  private readonly lock = new RWLock();
  private readonly layers: LocalImageServiceOptions['layers'];
  private readonly normalize: (name: string) => Reference;
  /** One layer GC at a time. */
  private readonly layerLock = new RWLock();

  constructor(opts: LocalImageServiceOptions) {
    this.content = opts.content;
    this.db = opts.db;
    this.records = new ImageStore(opts.db);
    this.host = normalizePlatform(opts.platform);
    this.emit = opts.emit ?? (() => {});
    this.unprivileged = opts.unprivileged ?? false;
    this.layers = opts.layers;
    this.normalize = opts.normalize ?? parseReference;
  }

  // ---- import -----------------------------------------------------------------------------------

  import(source: string, opts: ImportOptions = {}): Promise<ImportResult> {
    return this.lock.shared(() => this.importLocked(source, opts));
  }

  private async importLocked(source: string, opts: ImportOptions): Promise<ImportResult> {
    const name = opts.name === undefined ? undefined : taggedName(opts.name, this.normalize);
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(source);
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? ': no such file or directory' : '';
      throw new BrigError('ERR_IMAGE_SOURCE', `cannot read import source ${source}${why}`, {
        cause: fromErrno(e, source),
      });
    }
    opts.signal?.throwIfAborted();
    const label = opts.label ?? source;
    const lease = await this.content.createLease({
      expiresInMs: 24 * 3600_000,
      labels: { 'brig.import': label },
    });
    const session = new ImportSession(this.content, lease, true, opts.signal);
    const undo: Array<() => Promise<void> | void> = [];
    undo.push(() => this.content.gc(() => this.records.roots(), { only: session.created }).then(() => {}));
    try {
      let kind: SourceKind;
      let resolved: Resolved;
      if (st.isDirectory()) {
        const isLayout = await exists(join(source, 'oci-layout'));
        kind = isLayout ? 'oci-layout' : 'rootfs-dir';
        resolved = isLayout
          ? await this.fromLayoutDir(session, source, opts)
          : await this.fromRootfsDir(session, source);
      } else if (st.isFile()) {
        ({ kind, resolved } = await this.fromFile(session, source, opts));
      } else {
        throw new BrigError('ERR_IMAGE_SOURCE', `${source} is neither a directory nor a file`);
      }
      // the last point of no return: a cancelled import records nothing (setName is synchronous)
      opts.signal?.throwIfAborted();
      const finalName = name ?? sourceName(resolved.defaultName, resolved.target.digest);
      const { replaced } = this.records.setName(finalName, {
        target: resolved.target,
        manifestDigest: resolved.target.digest,
        configDigest: resolved.manifest.config.digest,
        platform: platformString(resolved.config),
      });
      undo.length = 0;
      // the record is written: what this import added and nothing references (archive extras) goes
      await this.content.deleteLease(lease).catch(() => {});
      await this.content.gc(() => this.records.roots(), { only: session.created }).catch(() => {});
      const id = resolved.manifest.config.digest;
      this.emit('import', id, {
        name: finalName ?? '',
        source: label,
        kind,
        ...(replaced ? { replaced } : {}),
      });
      return {
        ...this.summary(id, resolved.target, resolved.manifest, resolved.config),
        source: kind,
        ...(finalName !== undefined && !isDanglingName(finalName) ? { name: finalName } : {}),
      };
    } catch (e) {
      await this.content.deleteLease(lease).catch(() => {});
      for (const u of undo.reverse()) await Promise.resolve(u()).catch(() => {});
      throw e;
    }
  }

  private async fromLayoutDir(session: ImportSession, dir: string, opts: ImportOptions): Promise<Resolved> {
    const layout = await readSmallFile(join(dir, 'oci-layout'), 'oci-layout');
    checkLayoutFile(layout);
    const index = await readSmallFile(join(dir, 'index.json'), 'index.json');
    return this.fromIndex(session, index, layoutOpener(dir), opts);
  }

  private async fromFile(
    session: ImportSession,
    path: string,
    opts: ImportOptions,
  ): Promise<{ kind: SourceKind; resolved: Resolved }> {
    // Pass 1: classify (and, for a rootfs tarball, validate the tar and hash it: its diff_id).
    const names = new Map<string, { type: string; size: number; linkname: string }>();
    const small = new Map<string, Buffer>();
    const { createHash } = await import('node:crypto');
    const diff = createHash('sha256');
    await session.walk(
      path,
      (e) => {
        if (!e.clean) return undefined;
        names.set(e.name, { type: e.type, size: e.size, linkname: e.linkname });
        if (e.type === 'file' && ['oci-layout', 'index.json', 'manifest.json'].includes(e.name)) {
          return bufferSink(MAX_MANIFEST_BYTES, e.name, (b) => small.set(e.name, b));
        }
        return undefined;
      },
      (chunk) => diff.update(chunk),
    );
    if (small.has('oci-layout') && small.has('index.json')) {
      checkLayoutFile(small.get('oci-layout')!);
      await this.ingestArchiveBlobs(session, path);
      return {
        kind: 'oci-archive',
        resolved: await this.fromIndex(session, small.get('index.json')!, missingBlob, opts),
      };
    }
    if (small.has('manifest.json')) {
      return {
        kind: 'docker-archive',
        resolved: await this.fromDockerArchive(session, path, small.get('manifest.json')!, names, opts),
      };
    }
    if (names.size === 0) throw new BrigError('ERR_IMAGE_SOURCE', `${path} is an empty tar archive`);
    const diffId: Digest = `sha256:${diff.digest('hex')}`;
    return { kind: 'rootfs-tar', resolved: await this.fromRootfsTar(session, path, diffId) };
  }

  /** Pass 2 of an OCI archive: every blobs/sha256/<hex> entry into the store, verified. */
  private async ingestArchiveBlobs(session: ImportSession, path: string): Promise<void> {
    await session.walk(path, async (e): Promise<EntrySink | undefined> => {
      const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(e.name);
      if (!m || e.type !== 'file') return undefined;
      const digest = `sha256:${m[1]}` as Digest;
      await session.content.addToLease(session.lease, digest);
      if (await session.content.has(digest)) return undefined;
      const w = await session.content.writer({
        ref: `import-${session.lease}-${digest}`,
        digest,
        size: e.size,
        lease: session.lease,
      });
      return {
        data: (chunk) => w.write(chunk),
        end: async () => {
          await w.commit();
          session.created.add(digest);
        },
        abort: () => w.abort(),
      };
    });
  }

  /** Picks the image from an OCI index.json and copies what it needs. */
  private async fromIndex(
    session: ImportSession,
    indexBytes: Buffer,
    openBlob: Opener,
    opts: ImportOptions,
  ): Promise<Resolved> {
    const index = parseIndex(parseJson(indexBytes, 'index.json'), { what: 'index.json' });
    const entries = index.manifests.filter(
      (d) => isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType),
    );
    let chosen: Descriptor | undefined;
    if (opts.ref !== undefined) {
      const want = opts.ref;
      const wantNorm = userNames(want, this.normalize);
      chosen = entries.find(
        (d) =>
          d.annotations?.[REF_NAME_ANNOTATION] === want ||
          d.annotations?.[IMAGE_NAME_ANNOTATION] === want ||
          wantNorm.has(tryNormalize(d.annotations?.[IMAGE_NAME_ANNOTATION] ?? '', parseReference)),
      );
      if (!chosen) {
        throw new BrigError('ERR_IMAGE_NOT_FOUND', `the source has no image named ${want}`, {
          hint: `Names in the source: ${refNames(entries).join(', ') || 'none'}.`,
        });
      }
    } else if (entries.length === 1) {
      chosen = entries[0]!;
    } else if (entries.length === 0) {
      throw new BrigError('ERR_IMAGE_INVALID', 'index.json lists no image manifest');
    } else if (entries.every((d) => d.platform) && new Set(refNames(entries)).size <= 1) {
      // One image for several platforms, listed directly in index.json.
      chosen = this.pickPlatform(entries, opts, 'index.json');
    } else {
      throw new BrigError('ERR_IMAGE_AMBIGUOUS', `the source holds ${entries.length} images`, {
        hint: `Pick one with --ref NAME: ${refNames(entries).join(', ')}.`,
      });
    }
    const resolved = await this.resolveDescriptor(session, chosen, openBlob, opts, 0);
    const annotated =
      chosen.annotations?.[IMAGE_NAME_ANNOTATION] ?? chosen.annotations?.[REF_NAME_ANNOTATION];
    const defaultName =
      annotated !== undefined && /[/:]/.test(annotated) ? tryNormalize(annotated, parseReference) : undefined;
    return defaultName ? { ...resolved, defaultName } : resolved;
  }

  private pickPlatform(entries: readonly Descriptor[], opts: ImportOptions, what: string): Descriptor {
    const want = opts.platform ?? this.host;
    const d = selectPlatform(entries, want);
    if (!d) {
      const have = entries
        .filter((e) => e.platform)
        .map((e) => formatPlatform(normalizePlatform(e.platform!)));
      throw new BrigError(
        'ERR_IMAGE_PLATFORM',
        `${what} has no manifest for ${formatPlatform(want)} (it has ${have.join(', ') || 'none'})`,
      );
    }
    return d;
  }

  private async resolveDescriptor(
    session: ImportSession,
    d: Descriptor,
    openBlob: Opener,
    opts: ImportOptions,
    depth: number,
  ): Promise<Omit<Resolved, 'defaultName'>> {
    const what = `${isIndexMediaType(d.mediaType) ? 'index' : 'manifest'} ${d.digest}`;
    if (isIndexMediaType(d.mediaType)) {
      if (depth > 4) throw new BrigError('ERR_IMAGE_INVALID', `${what}: indexes nested too deep`);
      const idx = parseIndex(await session.json(d, openBlob, what), { what, mediaType: d.mediaType });
      const child = this.pickPlatform(idx.manifests, opts, what);
      return this.resolveDescriptor(session, child, openBlob, opts, depth + 1);
    }
    if (!isManifestMediaType(d.mediaType)) {
      throw new BrigError(
        'ERR_IMAGE_MEDIA_TYPE',
        `${d.digest}: "${d.mediaType}" is not an image manifest or index`,
      );
    }
    const manifest = parseManifest(await session.json(d, openBlob, what), { what, mediaType: d.mediaType });
    const cwhat = `config ${manifest.config.digest}`;
    const config = parseConfig(await session.json(manifest.config, openBlob, cwhat), { what: cwhat });
    parseBrigSection(config.brig);
    checkConfigMatchesManifest(config, manifest, what);
    await pool(manifest.layers, 3, (l) => session.ensure(l, openBlob));
    const target: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    return { target, manifest, config };
  }

  private async fromDockerArchive(
    session: ImportSession,
    path: string,
    manifestJson: Buffer,
    names: Map<string, { type: string; size: number; linkname: string }>,
    opts: ImportOptions,
  ): Promise<Resolved> {
    const c: Checker = new Checker('ERR_IMAGE_INVALID', 'manifest.json');
    const list = c.array(parseJson(manifestJson, 'manifest.json'), '').map((x, i) => {
      const o = c.object(x, `[${i}]`);
      return {
        config: c.nonEmptyString(o.Config, `[${i}].Config`),
        repoTags:
          o.RepoTags === null || o.RepoTags === undefined ? [] : c.stringArray(o.RepoTags, `[${i}].RepoTags`),
        layers: c.stringArray(o.Layers, `[${i}].Layers`),
      };
    });
    let entry: (typeof list)[number] | undefined = list[0];
    if (opts.ref !== undefined) {
      const want = userNames(opts.ref, this.normalize);
      entry = list.find((e) =>
        e.repoTags.some((t) => t === opts.ref || want.has(tryNormalize(t, parseReference))),
      );
      if (!entry) throw new BrigError('ERR_IMAGE_NOT_FOUND', `the archive has no image tagged ${opts.ref}`);
    } else if (list.length > 1) {
      throw new BrigError('ERR_IMAGE_AMBIGUOUS', `the archive holds ${list.length} images`, {
        hint: `Pick one with --ref NAME: ${list.flatMap((e) => e.repoTags).join(', ')}.`,
      });
    }
    if (!entry) throw new BrigError('ERR_IMAGE_INVALID', 'manifest.json lists no image');
    // Resolve links (older docker save links duplicate layers to the first copy).
    const resolve = (p: string): string => {
      let cur = p
        .split('/')
        .filter((x) => x !== '' && x !== '.')
        .join('/');
      for (let hops = 0; hops < 16; hops++) {
        const n = names.get(cur);
        if (!n) throw new BrigError('ERR_IMAGE_INVALID', `manifest.json: ${p} is not in the archive`);
        if (n.type === 'file') return cur;
        if (n.type === 'hardlink') cur = n.linkname;
        else if (n.type === 'symlink') {
          const base = n.linkname.startsWith('/') ? [] : cur.split('/').slice(0, -1);
          for (const part of n.linkname.split('/')) {
            if (part === '' || part === '.') continue;
            if (part === '..') base.pop();
            else base.push(part);
          }
          cur = base.join('/');
        } else throw new BrigError('ERR_IMAGE_INVALID', `manifest.json: ${p} is not a file in the archive`);
      }
      throw new BrigError('ERR_IMAGE_INVALID', `manifest.json: ${p}: too many links`);
    };
    const configPath = resolve(entry.config);
    const layerPaths = entry.layers.map(resolve);
    if ((names.get(configPath)?.size ?? 0) > MAX_MANIFEST_BYTES) {
      throw new BrigError(
        'ERR_IMAGE_INVALID',
        `the config ${entry.config} is larger than ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    const wanted = new Set([configPath, ...layerPaths]);
    const digests = new Map<string, { digest: Digest; size: number }>();
    await session.walk(path, async (e): Promise<EntrySink | undefined> => {
      if (e.type !== 'file' || !wanted.has(e.name) || digests.has(e.name)) return undefined;
      const w = await session.content.writer({
        ref: `import-${session.lease}-${e.name}`,
        size: e.size,
        lease: session.lease,
      });
      return {
        data: (chunk) => w.write(chunk),
        end: async () => {
          // (a blob that was already stored is marked too: the undo's GC keeps it if anything needs it)
          const info = await w.commit();
          session.created.add(info.digest);
          digests.set(e.name, { digest: info.digest, size: info.size });
        },
        abort: () => w.abort(),
      };
    });
    const cfg = digests.get(configPath)!;
    const configBytes = await session.content.readBytes(cfg.digest, { verify: true });
    const cwhat = `config ${entry.config}`;
    const config = parseConfig(parseJson(configBytes, cwhat), { what: cwhat });
    parseBrigSection(config.brig);
    const layers: Descriptor[] = [];
    for (const [i, lp] of layerPaths.entries()) {
      const blob = digests.get(lp)!;
      const head = await readHead(session.content.reader(blob.digest));
      const comp = detectCompression(head);
      const mediaType = LAYER_MEDIA_TYPES[comp];
      const diffId = config.rootfs.diff_ids[i];
      if (comp === 'none' && diffId !== undefined && diffId !== blob.digest) {
        throw new BrigError(
          'ERR_CONTENT_DIGEST_MISMATCH',
          `layer ${lp} hashes to ${blob.digest}, the config says ${diffId}`,
          {
            details: { expected: diffId, actual: blob.digest },
          },
        );
      }
      layers.push({ mediaType, digest: blob.digest, size: blob.size });
    }
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: cfg.digest, size: cfg.size },
        layers,
      }),
    );
    const manifest = parseManifest(parseJson(manifestBytes, 'converted manifest'));
    checkConfigMatchesManifest(config, manifest, `image ${entry.config}`);
    const target = await this.storeManifest(session, manifestBytes);
    const defaultName = entry.repoTags.length ? tryNormalize(entry.repoTags[0]!, parseReference) : undefined;
    return defaultName ? { target, manifest, config, defaultName } : { target, manifest, config };
  }

  private async fromRootfsDir(session: ImportSession, dir: string): Promise<Resolved> {
    const w = await this.content.writer({ ref: `rootfs-${session.lease}`, lease: session.lease });
    try {
      const out = new Writable({
        highWaterMark: 1 << 20,
        write(chunk: Buffer, _enc, cb) {
          w.write(chunk).then(() => cb(), cb);
        },
      });
      // (createLayer takes no signal: a cancelled import of a directory stops once it is read)
      const r = await createLayer({ root: dir, changes: 'all', compression: 'gzip', output: out });
      await finished(out);
      session.signal?.throwIfAborted();
      const info = await w.commit();
      session.created.add(info.digest);
      if (info.digest !== r.digest)
        throw new BrigError('ERR_INTERNAL', `layer written as ${info.digest}, created as ${r.digest}`);
      return this.rootfsImage(
        session,
        { mediaType: MEDIA_TYPES.ociLayerGzip, digest: info.digest, size: info.size },
        r.diffId as Digest,
        basename(dir),
      );
    } catch (e) {
      await w.abort();
      throw e;
    }
  }

  private async fromRootfsTar(session: ImportSession, path: string, diffId: Digest): Promise<Resolved> {
    const { createReadStream } = await import('node:fs');
    const head = await readHead(createReadStream(path, { start: 0, end: 7 }));
    const comp = detectCompression(head);
    const src = session.abortable(createReadStream(path, { highWaterMark: 1 << 20 }));
    const info = await this.content.ingest(src, {
      ref: `rootfs-${session.lease}`,
      lease: session.lease,
    });
    session.created.add(info.digest);
    const mediaType = LAYER_MEDIA_TYPES[comp];
    if (comp === 'none' && info.digest !== diffId)
      throw new BrigError('ERR_CONTENT_DIGEST_MISMATCH', `${path} changed while it was imported`);
    return this.rootfsImage(
      session,
      { mediaType, digest: info.digest, size: info.size },
      diffId,
      basename(path),
    );
  }

  private async rootfsImage(
    session: ImportSession,
    layer: Descriptor,
    diffId: Digest,
    from: string,
  ): Promise<Resolved> {
    const created = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const configDoc = {
      created,
      architecture: this.host.architecture,
      ...(this.host.variant ? { variant: this.host.variant } : {}),
      os: this.host.os,
      config: {},
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `brig image import ${from}` }],
    };
    const configBytes = Buffer.from(JSON.stringify(configDoc));
    const ci = await this.content.ingest(configBytes, { lease: session.lease });
    session.created.add(ci.digest);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: MEDIA_TYPES.ociConfig, digest: ci.digest, size: ci.size },
        layers: [layer],
      }),
    );
    const target = await this.storeManifest(session, manifestBytes);
    return {
      target,
      manifest: parseManifest(JSON.parse(manifestBytes.toString())),
      config: parseConfig(configDoc),
    };
  }

  private async storeManifest(session: ImportSession, bytes: Buffer): Promise<Descriptor> {
    const info = await this.content.ingest(bytes, { lease: session.lease });
    session.created.add(info.digest);
    return { mediaType: MEDIA_TYPES.ociManifest, digest: info.digest, size: info.size };
  }

  record(
    name: string | undefined,
    target: Descriptor,
    opts: { platform?: PlatformSpec; pulled?: Digest } = {},
  ): Promise<ImageSummary> {
    return this.lock.shared(async () => {
      const pulled = [target.digest, ...(opts.pulled ? [opts.pulled] : [])];
      const n = name === undefined ? undefined : taggedName(name, this.normalize, pulled);
      // a pull by tag also records REPO@DIGEST, DIGEST what the registry served for the tag
      // (docker's RepoDigests); a pull by digest has it as its name already
      const digestName =
        n !== undefined && opts.pulled !== undefined && !splitName(n).digest
          ? `${splitName(n).repo}@${opts.pulled}`
          : undefined;
      const lease = await this.content.createLease({
        expiresInMs: 3600_000,
        labels: { 'brig.record': n ?? '' },
      });
      const session = new ImportSession(this.content, lease, false);
      try {
        const r = await this.resolveDescriptor(
          session,
          target,
          missingBlob,
          opts.platform ? { platform: opts.platform } : {},
          0,
        );
        const rec = {
          target: r.target,
          manifestDigest: r.target.digest,
          configDigest: r.manifest.config.digest,
          platform: platformString(r.config),
        };
        // the tag and its digest name in one transaction: both are recorded, or neither
        if (n === undefined) this.records.setName(undefined, rec);
        else this.records.setNames(digestName === undefined ? [n] : [n, digestName], rec);
        this.emit('record', r.manifest.config.digest, {
          name: n ?? '',
          ...(digestName === undefined ? {} : { digestName }),
        });
        return this.summary(r.manifest.config.digest, r.target, r.manifest, r.config);
      } finally {
        await this.content.deleteLease(lease).catch(() => {});
      }
    });
  }

  async recordDigest(name: string, id: Digest, digest: Digest): Promise<string | undefined> {
    if (!isDigest(digest)) throw new BrigError('ERR_INVALID_ARGUMENT', `${digest} is not a sha256 digest`);
    let found: ReturnType<LocalImageService['find']>;
    try {
      found = this.find(name);
    } catch (e) {
      if (isBrigError(e, 'ERR_IMAGE_NOT_FOUND')) return undefined;
      throw e;
    }
    // removed, or moved to another image, while the push ran: nothing to record
    if (found.id !== id || found.byName === undefined || isDanglingName(found.byName)) return undefined;
    const rec = found.records.find((r) => r.name === found.byName)!;
    const digestName = `${splitName(found.byName).repo}@${digest}`;
    if (digestName === found.byName) return digestName;
    const { replaced } = this.records.setName(digestName, rec);
    this.emit('record', id, { digestName, ...(replaced ? { replaced } : {}) });
    return digestName;
  }

  // ---- lookups ----------------------------------------------------------------------------------

  /** Finds an image by name, id or unique id prefix. */
  private find(arg: string): { id: Digest; records: ImageRecord[]; byName?: string } {
    const direct = this.records.get(arg);
    if (direct)
      return { id: direct.configDigest, records: this.records.byConfig(direct.configDigest), byName: arg };
    // NAME:TAG@DIGEST stands for the digest (as in docker): recorded as NAME@DIGEST
    const norm = digestOnly(tryNormalize(arg, this.normalize));
    if (norm !== undefined) {
      const r = this.records.get(norm);
      if (r) return { id: r.configDigest, records: this.records.byConfig(r.configDigest), byName: norm };
    }
    const m = /^(?:sha256:)?([a-f0-9]{4,64})$/.exec(arg);
    if (m) {
      const ids = this.records.idsByPrefix(m[1]!);
      if (ids.length === 1) return { id: ids[0]!, records: this.records.byConfig(ids[0]!) };
      if (ids.length > 1)
        throw new BrigError(
          'ERR_INVALID_ARGUMENT',
          `image id prefix ${arg} matches ${ids.length} images; give more digits`,
        );
    }
    throw new BrigError('ERR_IMAGE_NOT_FOUND', `no image ${arg}`);
  }

  private async load(rec: ImageRecord): Promise<{ manifest: ImageManifest; config: ImageConfig }> {
    const what = `manifest ${rec.manifestDigest}`;
    const manifest = parseManifest(
      parseJson(await this.content.readBytes(rec.manifestDigest, { verify: true }), what),
      {
        what,
        mediaType: rec.target.mediaType,
      },
    );
    const cwhat = `config ${manifest.config.digest}`;
    const config = parseConfig(
      parseJson(await this.content.readBytes(manifest.config.digest, { verify: true }), cwhat),
      { what: cwhat },
    );
    return { manifest, config };
  }

  private summary(
    id: Digest,
    target: Descriptor,
    manifest: ImageManifest,
    config: ImageConfig,
  ): ImageSummary {
    const names = this.records
      .byConfig(id)
      .map((r) => r.name)
      .filter((n) => !isDanglingName(n));
    const size = target.size + manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
    const s: ImageSummary = {
      id,
      names,
      manifestDigest: target.digest,
      size,
      platform: platformString(config),
    };
    if (config.created !== undefined) s.created = config.created;
    return s;
  }

  async list(): Promise<ImageSummary[]> {
    const seen = new Map<string, ImageRecord>();
    for (const r of this.records.list()) if (!seen.has(r.configDigest)) seen.set(r.configDigest, r);
    const out: ImageSummary[] = [];
    for (const r of seen.values()) {
      try {
        const { manifest, config } = await this.load(r);
        out.push(this.summary(r.configDigest, r.target, manifest, config));
      } catch {
        // A record whose blobs are gone still lists, with what the record knows.
        out.push({
          id: r.configDigest,
          names: this.records
            .byConfig(r.configDigest)
            .map((x) => x.name)
            .filter((n) => !isDanglingName(n)),
          manifestDigest: r.manifestDigest,
          size: r.target.size,
          platform: r.platform,
        });
      }
    }
    return out;
  }

  async inspect(image: string): Promise<ImageDetails> {
    const { id, records, byName } = this.find(image);
    // the manifest the name points at (one config can be recorded under several manifests)
    const rec = records.find((r) => r.name === byName) ?? records[0]!;
    const { manifest, config } = await this.load(rec);
    const s = this.summary(id, rec.target, manifest, config);
    return {
      ...s,
      repoTags: s.names.filter((n) => !splitName(n).digest),
      repoDigests: s.names.filter((n) => splitName(n).digest),
      target: rec.target,
      manifest,
      config,
      brig: parseBrigSection(config.brig),
      layers: manifest.layers.map((l, i) => ({
        mediaType: l.mediaType,
        digest: l.digest,
        size: l.size,
        diffId: config.rootfs.diff_ids[i]!,
      })),
    };
  }

  async lookup(image: string): Promise<{ id: Digest; names: string[]; target: Descriptor }> {
    const { id, records, byName } = this.find(image);
    const rec = records.find((r) => r.name === byName) ?? records[0]!;
    const names = records.map((r) => r.name).filter((n) => !isDanglingName(n));
    return { id, names, target: rec.target };
  }

  /** For other services (containers, snapshots): the resolved image. */
  async resolve(image: string): Promise<{
    id: Digest;
    name?: string;
    target: Descriptor;
    manifest: ImageManifest;
    config: ImageConfig;
  }> {
    const { id, records, byName } = this.find(image);
    const rec = records.find((r) => r.name === byName) ?? records[0]!;
    const { manifest, config } = await this.load(rec);
    const name = byName ?? records.find((r) => !isDanglingName(r.name))?.name;
    return name === undefined
      ? { id, target: rec.target, manifest, config }
      : { id, name, target: rec.target, manifest, config };
  }

  // ---- tag / rm / prune -------------------------------------------------------------------------

  async tag(source: string, target: string): Promise<{ id: Digest; name: string }> {
    const { records } = this.find(source);
    const rec = records[0]!;
    const name = taggedName(target, this.normalize);
    this.records.setName(name, rec);
    this.emit('tag', rec.configDigest, { name });
    return { id: rec.configDigest, name };
  }

  private usedByContainers(id: Digest): number {
    return this.db.prepare('SELECT count(*) FROM containers WHERE image_id = ?').pluck().get(id) as number;
  }

  async rm(image: string, opts: { force?: boolean } = {}): Promise<RemoveResult> {
    const { id, records, byName } = this.find(image);
    const force = opts.force ?? false;
    const inUse = this.usedByContainers(id);
    const named = records.filter((r) => !isDanglingName(r.name));
    const untagged: string[] = [];
    const deleted: Digest[] = [];
    const targets =
      byName !== undefined && !isDanglingName(byName)
        ? withDigestNames(byName, named)
        : records.map((r) => r.name);
    const last = targets.length >= records.length;
    // a digest name beside a tag of its repository is not one more name (the tag's rm takes it)
    const several = named.filter((r) => !isExtraDigestName(r.name, named));
    if (byName === undefined && several.length > 1 && !force) {
      throw new BrigError(
        'ERR_IMAGE_IN_USE',
        `image ${id} has several names (${several.map((r) => r.name).join(', ')})`,
        {
          hint: 'Remove the names one by one, or use `brig image rm -f ID`.',
        },
      );
    }
    if (last && inUse > 0 && !force) {
      throw new BrigError('ERR_IMAGE_IN_USE', `image ${image} is used by ${inUse} container(s)`, {
        details: { containers: inUse },
      });
    }
    // Forced, an image in use loses its names but stays (unnamed): a container's root is made
    // from the image at each start, so deleting it would leave containers that cannot start.
    if (last && inUse > 0 && targets.every(isDanglingName)) {
      throw new BrigError(
        'ERR_IMAGE_IN_USE',
        `image ${id} has no name left and is used by ${inUse} container(s); it stays until they are removed`,
        {
          hint: 'Remove the containers that use it first (`brig ps -a`, `brig rm`); `brig image prune` then removes it.',
          details: { containers: inUse },
        },
      );
    }
    for (const n of targets) {
      const { gone } = this.records.removeName(n, inUse > 0);
      if (!isDanglingName(n)) untagged.push(n);
      if (gone) deleted.push(id);
    }
    for (const n of untagged) this.emit('untag', id, { name: n });
    if (deleted.length) this.emit('delete', id, {});
    const { removed, bytes } = await this.gc();
    const layers = await this.collectLayers();
    return {
      untagged,
      deleted: [...new Set(deleted)],
      blobsRemoved: removed.length,
      layersRemoved: layers.removed,
      bytesReclaimed: bytes + layers.bytes,
    };
  }

  async prune(opts: { all?: boolean } = {}): Promise<PruneResult> {
    const deleted = new Set<Digest>();
    const untagged: string[] = [];
    // dangling, as docker's prune counts it: no tag left (unnamed, or known only by digest names:
    // an image pulled by digest, or one whose tag a later pull moved to another image)
    const untaggedImage = (id: Digest) =>
      this.records.byConfig(id).every((x) => isDanglingName(x.name) || splitName(x.name).digest);
    for (const r of this.records.list()) {
      if (!opts.all && !untaggedImage(r.configDigest)) continue;
      if (this.usedByContainers(r.configDigest) > 0) continue;
      const { gone } = this.records.removeName(r.name, false);
      if (!isDanglingName(r.name)) untagged.push(r.name);
      if (gone) deleted.add(r.configDigest);
    }
    for (const id of deleted) this.emit('delete', id, { reason: 'prune' });
    const { removed, bytes } = await this.gc();
    const layers = await this.collectLayers();
    return {
      deleted: [...deleted],
      untagged,
      blobsRemoved: removed.length,
      layersRemoved: layers.removed,
      bytesReclaimed: bytes + layers.bytes,
    };
  }

  /** Removes blobs no image record reaches and no lease holds. */
  gc(): Promise<{ removed: Digest[]; bytes: number }> {
    return this.lock.exclusive(() => this.content.gc(() => this.records.roots()));
  }

  /**
   * Runs the layer GC (the `layers` option; nothing without it), one at a time. It does not run
   * when the config of a recorded image cannot be read (its chain is unknown, so no layer is
   * known to be unneeded). A failure of the GC itself is not the caller's: it counts nothing.
   */
  collectLayers(): Promise<{ removed: number; bytes: number }> {
    const layers = this.layers;
    if (!layers) return Promise.resolve({ removed: 0, bytes: 0 });
    return this.layerLock.exclusive(async () => {
      try {
        const r = await layers(await this.neededDiffIds());
        return { removed: r.removed.length, bytes: r.bytes };
      } catch {
        return { removed: 0, bytes: 0 };
      }
    });
  }

  /** The diff ids of every recorded image, and of every image config held by a live lease. */
  private async neededDiffIds(): Promise<Array<readonly string[]>> {
    const out: Array<readonly string[]> = [];
    const configs = this.db.prepare('SELECT DISTINCT config_digest FROM images').pluck().all() as Digest[];
    for (const d of configs) {
      const ids = diffIdsOf(await this.content.readBytes(d));
      if (!ids) throw new BrigError('ERR_IMAGE_INVALID', `config ${d} has no rootfs.diff_ids`);
      out.push(ids);
    }
    const leased = this.db
      .prepare(
        `SELECT DISTINCT b.digest FROM lease_blobs b JOIN leases l ON l.id = b.lease_id
         WHERE l.expires_at IS NULL OR l.expires_at > ?`,
      )
      .pluck()
      .all(Date.now()) as Digest[];
    const known = new Set<string>(configs);
    for (const d of leased) {
      if (known.has(d)) continue;
      try {
        // a config is small; a layer is skipped by its size without being read
        if ((await this.content.info(d)).size > MAX_MANIFEST_BYTES) continue;
        const ids = diffIdsOf(await this.content.readBytes(d));
        if (ids) out.push(ids);
      } catch {
        // not stored (yet), or gone: it holds no chain
      }
    }
    return out;
  }

  // ---- export / unpack --------------------------------------------------------------------------

  export(image: string, dest: string): Promise<ExportResult> {
    return this.lock.shared(() => this.exportLocked(image, dest));
  }

  private async exportLocked(image: string, dest: string): Promise<ExportResult> {
    const { id, records, byName } = this.find(image);
    const rec =
      records.find((r) => r.name === byName) ?? records.find((r) => !isDanglingName(r.name)) ?? records[0]!;
    const { manifest, config } = await this.load(rec);
    const blobs: Descriptor[] = [rec.target, manifest.config, ...manifest.layers];
    for (const b of blobs) {
      if (!(await this.content.has(b.digest)))
        throw new BrigError('ERR_CONTENT_NOT_FOUND', `blob ${b.digest} of image ${image} is missing`);
    }
    let ref: Reference | undefined;
    if (!isDanglingName(rec.name)) ref = parseReference(rec.name);
    const annotations: Record<string, string> = {};
    if (ref) annotations[IMAGE_NAME_ANNOTATION] = rec.name;
    if (ref?.tag) annotations[REF_NAME_ANNOTATION] = ref.tag;
    const platform = {
      os: config.os,
      architecture: config.architecture,
      ...(config.variant ? { variant: config.variant } : {}),
    };
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [{ ...rec.target, platform, ...(Object.keys(annotations).length ? { annotations } : {}) }],
    };
    const indexBytes = Buffer.from(JSON.stringify(index));
    const layoutBytes = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const unique = [...new Map(blobs.map((b) => [b.digest, b])).values()];
    const tmp = join(dirname(dest), `.${basename(dest)}.brig-export-${randomBytes(6).toString('hex')}`);
    const format = dest.endsWith('.tar') ? 'oci-archive' : 'oci-layout';
    try {
      if (format === 'oci-archive') {
        await this.writeArchive(tmp, layoutBytes, indexBytes, unique);
        await rename(tmp, dest);
      } else {
        await checkEmptyOrAbsent(dest);
        await mkdir(join(tmp, 'blobs', 'sha256'), { recursive: true, mode: 0o755 });
        await writeFile(join(tmp, 'oci-layout'), layoutBytes);
        for (const b of unique) {
          await pipeline(
            this.content.reader(b.digest, { verify: true }),
            createWriteStream(join(tmp, 'blobs', 'sha256', digestHex(b.digest)), { mode: 0o644 }),
          );
        }
        await writeFile(join(tmp, 'index.json'), indexBytes);
        await rmdir(dest).catch(() => {});
        await rename(tmp, dest);
      }
    } catch (e) {
      await rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw await exportFailure(e, dest);
    }
    this.emit('export', id, { dest, format });
    const out: ExportResult = { id, manifestDigest: rec.manifestDigest, format, path: dest };
    if (ref?.tag) out.refName = ref.tag;
    return out;
  }

  private async writeArchive(
    path: string,
    layout: Buffer,
    index: Buffer,
    blobs: Descriptor[],
  ): Promise<void> {
    const fh = await open(path, 'wx', 0o644);
    const mtime = Math.floor(Date.now() / 1000);
    const header = (name: string, type: 'file' | 'dir', size: number) =>
      encodeHeader(tarEntry({ name, type, mode: type === 'dir' ? 0o755 : 0o644, size, mtime }));
    let pos = 0;
    const put = async (b: Buffer) => {
      let off = 0;
      while (off < b.length) {
        const { bytesWritten } = await fh.write(b, off, b.length - off, pos);
        off += bytesWritten;
        pos += bytesWritten;
      }
    };
    try {
      await put(header('oci-layout', 'file', layout.length));
      await put(layout);
      await put(padding(layout.length));
      await put(header('blobs/', 'dir', 0));
      await put(header('blobs/sha256/', 'dir', 0));
      for (const b of blobs) {
        await put(header(`blobs/sha256/${digestHex(b.digest)}`, 'file', b.size));
        let n = 0;
        for await (const chunk of this.content.reader(b.digest, { verify: true })) {
          n += (chunk as Buffer).length;
          await put(chunk as Buffer);
        }
        if (n !== b.size)
          throw new BrigError('ERR_CONTENT_CORRUPT', `blob ${b.digest} is ${n} bytes, expected ${b.size}`);
        await put(padding(b.size));
      }
      await put(header('index.json', 'file', index.length));
      await put(index);
      await put(padding(index.length));
      await put(endOfArchive());
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  unpack(image: string, dir: string, opts: { unprivileged?: boolean } = {}): Promise<UnpackResult> {
    return this.lock.shared(() => this.unpackLocked(image, dir, opts));
  }

  private async unpackLocked(
    image: string,
    dir: string,
    opts: { unprivileged?: boolean },
  ): Promise<UnpackResult> {
    const { id, records } = this.find(image);
    const { manifest, config } = await this.load(records[0]!);
    const created = await checkEmptyOrAbsent(dir);
    if (created) await mkdir(dir, { recursive: true, mode: 0o755 });
    let layer: Digest | undefined;
    try {
      for (const [i, l] of manifest.layers.entries()) {
        layer = l.digest;
        const compression = layerCompression(l.mediaType);
        if (compression === undefined)
          throw new BrigError('ERR_IMAGE_MEDIA_TYPE', `layer ${l.digest}: cannot unpack ${l.mediaType}`);
        await applyLayer(this.content.reader(l.digest), {
          root: dir,
          compression,
          expectedDigest: l.digest,
          expectedDiffId: config.rootfs.diff_ids[i]!,
          unprivileged: opts.unprivileged ?? this.unprivileged,
        });
      }
    } catch (e) {
      // The half-applied tree is thrown away: removed if we made it, emptied if it was given empty.
      if (created) await rm(dir, { recursive: true, force: true }).catch(() => {});
      else
        for (const n of await readdir(dir).catch(() => [] as string[]))
          await rm(join(dir, n), { recursive: true, force: true }).catch(() => {});
      throw await this.unpackFailure(e, image, dir, layer);
    }
    this.emit('unpack', id, { dir });
    return { id, path: dir, layers: manifest.layers.length };
  }

  /**
   * What a failed unpack reports. A full disk is DIR's file system, not the brig root. Any other
   * failure hashes the layer being applied again: when its stored bytes no longer match its
   * digest, the content store is damaged and that is the error (ERR_CONTENT_CORRUPT, naming the
   * blob), not the tar, compression or path error the damage caused.
   */
  private async unpackFailure(
    e: unknown,
    image: string,
    dir: string,
    layer: Digest | undefined,
  ): Promise<unknown> {
    if (isBrigError(e, 'ERR_NO_SPACE') || (e as NodeJS.ErrnoException)?.code === 'ENOSPC') {
      return new BrigError(
        'ERR_NO_SPACE',
        `unpack to ${dir}: ${(e as Error)?.message ?? 'no space left on device'}`,
        {
          cause: e,
          hint: `The file system holding ${dir} is full: free space there, or unpack somewhere else.`,
        },
      );
    }
    if (layer !== undefined && (await isDamaged(this.content, layer).catch(() => false))) {
      return new BrigError(
        'ERR_CONTENT_CORRUPT',
        `stored layer ${layer} of ${image} is damaged: its bytes no longer hash to its digest (${(e as Error)?.message ?? String(e)})`,
        {
          cause: e,
          details: { digest: layer },
          hint: `Import ${image} again from its source (an import replaces a damaged blob); for a pulled image, remove the images that use this layer (\`brig image rm\`) and pull it again.`,
        },
      );
    }
    return e;
  }
}

// ---- helpers --------------------------------------------------------------------------------------

/**
 * What a failed export reports: a full disk is DEST's file system (the export only reads the
 * brig root), and an archive DEST whose directory does not exist says so (a layout DEST is created
 * with its parents).
 */
async function exportFailure(e: unknown, dest: string): Promise<unknown> {
  if (isBrigError(e, 'ERR_NO_SPACE') || (e as NodeJS.ErrnoException)?.code === 'ENOSPC') {
    return new BrigError('ERR_NO_SPACE', `export to ${dest}: no space left on device`, {
      cause: e,
      hint: `The file system holding ${dirname(dest)} is full: free space there, or export to another path.`,
    });
  }
  if (isBrigError(e)) return e;
  if ((e as NodeJS.ErrnoException)?.code === 'ENOENT' && !(await exists(dirname(dest)))) {
    return new BrigError(
      'ERR_NOT_FOUND',
      `export to ${dest}: the directory ${dirname(dest)} does not exist`,
      {
        cause: e,
        hint: `Create ${dirname(dest)} first, or export to a path in a directory that exists.`,
      },
    );
  }
  return fromErrno(e, `export to ${dest}`);
}

/** Whether a stored blob's bytes no longer hash to its digest (ERR_CONTENT_CORRUPT when read verified). */
async function isDamaged(content: ContentStore, digest: Digest): Promise<boolean> {
  try {
    for await (const _ of content.reader(digest, { verify: true })) {
      // hashing is all
    }
    return false;
  } catch (e) {
    if (isBrigError(e, 'ERR_CONTENT_CORRUPT')) return true;
    throw e;
  }
}

/**
 * The canonical name to record for `s`: REPO:TAG. A name with a digest is refused (tag and
 * import give names, never digests) unless the digest is one of `pulled`, the digests a registry
 * pull resolved (what the reference pointed at: the manifest, or the index it was picked from);
 * it is then recorded as REPO@DIGEST, without a tag: the digest decided what was pulled.
 */
function taggedName(s: string, parse: (name: string) => Reference, pulled: readonly string[] = []): string {
  const r = parse(s);
  if (r.digest !== undefined && pulled.includes(r.digest)) return `${r.domain}/${r.path}@${r.digest}`;
  if (r.digest !== undefined) {
    throw new BrigError('ERR_REFERENCE_INVALID', `${s}: an image name to record cannot carry a digest`, {
      hint: 'Give NAME[:TAG].',
    });
  }
  return `${r.domain}/${r.path}:${r.tag}`;
}

/** The repository of a canonical name (REPO:TAG or REPO@DIGEST), and whether it names a digest. */
function splitName(name: string): { repo: string; digest: boolean } {
  const at = name.indexOf('@');
  if (at >= 0) return { repo: name.slice(0, at), digest: true };
  const colon = name.lastIndexOf(':');
  return { repo: colon > name.lastIndexOf('/') ? name.slice(0, colon) : name, digest: false };
}

/** A digest name of an image that also has a tag in the same repository. */
function isExtraDigestName(name: string, named: readonly ImageRecord[]): boolean {
  const n = splitName(name);
  return (
    n.digest &&
    named.some((r) => {
      const o = splitName(r.name);
      return !o.digest && o.repo === n.repo;
    })
  );
}

/**
 * The names `rm NAME` removes: NAME, and when NAME is the image's last tag in its repository, the
 * image's digest names in that repository too (a pull by digest; docker does the same).
 */
function withDigestNames(name: string, named: readonly ImageRecord[]): string[] {
  const { repo, digest } = splitName(name);
  if (digest) return [name];
  const same = named.map((r) => r.name).filter((n) => n !== name && splitName(n).repo === repo);
  return same.some((n) => !splitName(n).digest) ? [name] : [name, ...same];
}

/**
 * The name a source carries, to record: one with a digest only when the digest is the imported
 * manifest's (as REPO@DIGEST, like a pull by digest); any other digest leaves the image unnamed.
 */
function sourceName(name: string | undefined, manifest: Digest): string | undefined {
  if (name === undefined || !name.includes('@')) return name;
  return name.endsWith(`@${manifest}`) ? digestOnly(name) : undefined;
}

/** A canonical name without the tag that stands beside a digest: r:t@sha256:… → r@sha256:…. */
function digestOnly(name: string | undefined): string | undefined {
  return name?.replace(/:[\w][\w.-]*(@sha256:[a-f0-9]{64})$/, '$1');
}

/** rootfs.diff_ids of an image config's bytes; undefined for anything else. */
function diffIdsOf(b: Buffer): string[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(b.toString('utf8'));
  } catch {
    return undefined;
  }
  const ids = (v as { rootfs?: { diff_ids?: unknown } } | null)?.rootfs?.diff_ids;
  return Array.isArray(ids) && ids.every((x) => typeof x === 'string') ? ids : undefined;
}

function tryNormalize(s: string, parse: (name: string) => Reference): string | undefined {
  try {
    const r = parse(s);
    return `${r.domain}/${r.path}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
  } catch {
    return undefined;
  }
}

/**
 * The canonical forms of a name the user gave to pick an image from a source: by the configured
 * rule and by docker's (the source's names are read with docker's rules).
 */
function userNames(s: string, parse: (name: string) => Reference): Set<string | undefined> {
  const out = new Set([tryNormalize(s, parse), tryNormalize(s, parseReference)]);
  out.delete(undefined);
  return out;
}

function refNames(entries: readonly Descriptor[]): string[] {
  return entries
    .map((d) => d.annotations?.[IMAGE_NAME_ANNOTATION] ?? d.annotations?.[REF_NAME_ANNOTATION])
    .filter((x): x is string => x !== undefined);
}

function platformString(c: ImageConfig): string {
  return formatPlatform({
    os: c.os,
    architecture: c.architecture,
    ...(c.variant ? { variant: c.variant } : {}),
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Returns true when `p` is absent; throws unless it is an empty directory. */
async function checkEmptyOrAbsent(p: string): Promise<boolean> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(p);
  } catch {
    return true;
  }
  if (!st.isDirectory() || (await readdir(p)).length > 0) {
    throw new BrigError('ERR_ALREADY_EXISTS', `${p} exists and is not an empty directory`, {
      hint: 'Give a directory that does not exist yet, or an empty one.',
    });
  }
  return false;
}

async function readSmallFile(path: string, what: string): Promise<Buffer> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new BrigError('ERR_IMAGE_INVALID', `${what} is a symbolic link`);
    throw new BrigError('ERR_IMAGE_SOURCE', `cannot read ${what}`, { cause: fromErrno(e, path) });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BrigError('ERR_IMAGE_INVALID', `${what} is not a regular file`);
    if (st.size > MAX_MANIFEST_BYTES)
      throw new BrigError('ERR_IMAGE_INVALID', `${what} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

function checkLayoutFile(b: Buffer): void {
  const c: Checker = new Checker('ERR_IMAGE_INVALID', 'oci-layout');
  const o = c.object(parseJson(b, 'oci-layout'), '');
  const v = c.string(o.imageLayoutVersion, 'imageLayoutVersion');
  if (!/^1\.\d+\.\d+$/.test(v)) c.fail('imageLayoutVersion', `version "${v}" is not 1.x.y`);
}

/** Opens blobs/sha256/<hex> of a layout directory: a regular file (never through a symlink) of the declared size. */
function layoutOpener(dir: string): Opener {
  return async (d) => {
    if (!isDigest(d.digest)) throw new BrigError('ERR_IMAGE_INVALID', `bad digest ${d.digest}`);
    const path = join(dir, 'blobs', 'sha256', digestHex(d.digest));
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new BrigError(
          'ERR_IMAGE_INVALID',
          `the layout has no blob ${d.digest} (blobs/sha256/${digestHex(d.digest)})`,
          { details: { digest: d.digest } },
        );
      if (code === 'ELOOP')
        throw new BrigError('ERR_IMAGE_INVALID', `blob ${d.digest} is a symbolic link in the layout`, {
          details: { digest: d.digest },
        });
      throw fromErrno(e, path);
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new BrigError('ERR_IMAGE_INVALID', `blob ${d.digest} is not a regular file`);
    }
    if (st.size !== d.size) {
      await fh.close();
      throw new BrigError(
        'ERR_CONTENT_SIZE_MISMATCH',
        `blob ${d.digest} is ${st.size} bytes, its descriptor says ${d.size}`,
        {
          details: { digest: d.digest, expected: d.size, actual: st.size },
        },
      );
    }
    return fh.createReadStream({ highWaterMark: 1 << 20 });
  };
}

const missingBlob: Opener = async (d) => {
  throw new BrigError('ERR_IMAGE_INVALID', `the archive has no blob ${d.digest}`, {
    details: { digest: d.digest },
  });
};

async function readHead(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of r) {
    parts.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= 8) break;
  }
  r.destroy();
  return Buffer.concat(parts).subarray(0, 8);
}

async function pool<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  let failed: unknown;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (i < items.length && failed === undefined) {
      const t = items[i++]!;
      try {
        await fn(t);
      } catch (e) {
        failed ??= e;
      }
    }
  });
  await Promise.all(workers);
  if (failed !== undefined) throw failed;
}
