/**
 * One repository on one registry endpoint: the distribution-spec operations brig uses
 * (manifests GET/HEAD/PUT, blobs HEAD/GET with Range, uploads POST/PATCH/PUT/DELETE,
 * cross-repository mount). Stateless apart from what the transport caches (agents, tokens).
 */
import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Descriptor, Digest } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';
import { MEDIA_TYPES } from '../images/oci.ts';
import type { Endpoint } from './config.ts';
import { header, type RegistryTransport, type SendRequest } from './transport.ts';

/** Largest manifest or index brig accepts (distribution's own limit is 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.dockerManifest,
].join(', ');

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

function sha256(b: Buffer): Digest {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function readLimited(res: Dispatcher.ResponseData, limit: number, what: string): Promise<Buffer> {
  const len = Number(header(res, 'content-length') ?? '-1');
  if (len > limit) {
    await res.body.dump().catch(() => {});
    throw new BrigError('ERR_IMAGE_INVALID', `${what} is ${len} bytes, more than the ${limit} brig accepts`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res.body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      res.body.destroy();
      throw new BrigError('ERR_IMAGE_INVALID', `${what} is more than the ${limit} bytes brig accepts`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function mediaTypeOf(bytes: Buffer, contentType: string | undefined): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
    // OCI documents may omit mediaType; the Content-Type then says, or the shape does.
    const ct = contentType?.split(';')[0]?.trim();
    if (ct && ct !== 'application/json' && ct !== 'text/plain') return ct;
    return Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
  } catch {
    throw new BrigError('ERR_IMAGE_INVALID', 'the registry sent a manifest that is not JSON');
  }
}

export class RepositoryClient {
  readonly transport: RegistryTransport;
  readonly ep: Endpoint;
  readonly repository: string;
  readonly scopes: string[];

  constructor(
    transport: RegistryTransport,
    ep: Endpoint,
    repository: string,
    push: boolean,
    mountFrom: string[] = [],
  ) {
    this.transport = transport;
    this.ep = ep;
    this.repository = repository;
    this.scopes = [
      `repository:${repository}:${push ? 'pull,push' : 'pull'}`,
      ...mountFrom.map((r) => `repository:${r}:pull`),
    ];
  }

  /** `registry/repository`, for messages. */
  get name(): string {
    return `${this.ep.registry}/${this.repository}`;
  }

  #send(r: Omit<SendRequest, 'scopes' | 'repository'>): Promise<Dispatcher.ResponseData> {
    return this.transport.send(this.ep, { ...r, scopes: this.scopes, repository: this.repository });
  }

  /**
   * GET a manifest or index by tag or digest. The digest is computed from the bytes; a reference
   * by digest must match it. Returns undefined on 404 when `allowMissing`.
   */
  async getManifest(
    reference: string,
    opts: { allowMissing?: boolean } = {},
  ): Promise<FetchedManifest | undefined> {
    const what = `manifest ${this.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const res = await this.#send({
      method: 'GET',
      path: `/v2/${this.repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      ok: opts.allowMissing ? [200, 404] : [200],
      what,
    });
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return undefined;
    }
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, what);
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new BrigError(
        'ERR_CONTENT_DIGEST_MISMATCH',
        `${what}: the registry sent bytes that hash to ${digest}`,
        {
          details: {
            registry: this.ep.registry,
            repository: this.repository,
            expected: reference,
            actual: digest,
          },
        },
      );
    }
    return { bytes, digest, mediaType: mediaTypeOf(bytes, header(res, 'content-type')) };
  }

  /** PUT a manifest or index under a tag or its digest. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const res = await this.#send({
      method: 'PUT',
      path: `/v2/${this.repository}/manifests/${reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      ok: [200, 201, 202],
      what: `manifest ${this.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`,
    });
    await res.body.dump().catch(() => {});
  }

  async hasManifest(digest: Digest): Promise<boolean> {
    const res = await this.#send({
      method: 'HEAD',
      path: `/v2/${this.repository}/manifests/${digest}`,
      headers: { accept: MANIFEST_ACCEPT },
      ok: [200, 404],
      what: `manifest ${this.name}@${digest}`,
    });
    await res.body.dump().catch(() => {});
    return res.statusCode === 200;
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    const res = await this.#send({
      method: 'HEAD',
      path: `/v2/${this.repository}/blobs/${digest}`,
      ok: [200, 404],
      what: `blob ${this.name}@${digest}`,
    });
    await res.body.dump().catch(() => {});
    return res.statusCode === 200;
  }

  /** GET a blob from `offset` (Range). Status 206 = the rest from offset; 200 = the whole blob. */
  getBlob(digest: Digest, offset = 0): Promise<Dispatcher.ResponseData> {
    return this.#send({
      method: 'GET',
      path: `/v2/${this.repository}/blobs/${digest}`,
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      ok: offset > 0 ? [200, 206] : [200],
      what: `blob ${this.name}@${digest}`,
    });
  }

  /**
   * Starts an upload, asking for a cross-repository mount from `from` when given. Returns
   * `mounted` when the registry mounted the blob (201), else the upload Location.
   */
  async startUpload(
    digest: Digest,
    from?: string,
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const q = from ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}` : '';
    const res = await this.#send({
      method: 'POST',
      path: `/v2/${this.repository}/blobs/uploads/${q}`,
      headers: { 'content-length': '0' },
      ok: [201, 202],
      what: `upload of ${digest} to ${this.name}`,
    });
    await res.body.dump().catch(() => {});
    if (res.statusCode === 201 && from) return { mounted: true };
    const loc = header(res, 'location');
    if (!loc)
      throw new BrigError(
        'ERR_REGISTRY_PROTOCOL',
        `${this.ep.registry}: upload to ${this.name}: no Location in the answer`,
      );
    return { mounted: false, location: this.#absolute(loc) };
  }

  /** Cancels an upload session (DELETE; a session the registry no longer knows is fine). */
  async cancelUpload(location: string): Promise<void> {
    const res = await this.#send({
      method: 'DELETE',
      path: location,
      ok: [200, 202, 204, 404],
      what: `cancelling an upload to ${this.name}`,
      retry: false,
    });
    await res.body.dump().catch(() => {});
  }

  #absolute(loc: string): string {
    return new URL(loc, `${this.transport.origin(this.ep)}/`).toString();
  }

  /**
   * Uploads a blob into an upload session: one monolithic PUT when `chunkSize` is 0 or the blob
   * fits, else PATCH chunks (Content-Range) and a final PUT with the digest.
   */
  async upload(
    location: string,
    desc: { digest: Digest; size: number },
    open: (start: number, end: number) => Readable,
    opts: { chunkSize: number; onBytes?: (n: number) => void },
  ): Promise<void> {
    const what = `upload of ${desc.digest} to ${this.name}`;
    const withDigest = (loc: string) => {
      const u = new URL(loc);
      u.searchParams.set('digest', desc.digest);
      return u.toString();
    };
    if (opts.chunkSize === 0 || desc.size <= opts.chunkSize) {
      const res = await this.#send({
        method: 'PUT',
        path: withDigest(location),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
        body: () => counted(open(0, desc.size), opts.onBytes),
        ok: [201, 204],
        what,
        retry: false,
      });
      await res.body.dump().catch(() => {});
      return;
    }
    let loc = location;
    for (let start = 0; start < desc.size; start += opts.chunkSize) {
      const end = Math.min(desc.size, start + opts.chunkSize);
      const res = await this.#send({
        method: 'PATCH',
        path: loc,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(end - start),
          'content-range': `${start}-${end - 1}`,
        },
        body: () => counted(open(start, end), opts.onBytes),
        ok: [202, 204],
        what,
        retry: false,
      });
      await res.body.dump().catch(() => {});
      const next = header(res, 'location');
      if (next) loc = this.#absolute(next);
    }
    const res = await this.#send({
      method: 'PUT',
      path: withDigest(loc),
      headers: { 'content-length': '0' },
      ok: [201, 204],
      what,
      retry: false,
    });
    await res.body.dump().catch(() => {});
  }

  /** GET /v2/: reachability and credentials. */
  async ping(): Promise<void> {
    const res = await this.transport.send(this.ep, {
      method: 'GET',
      path: '/v2/',
      ok: [200],
      scopes: [],
      what: 'API check (/v2/)',
    });
    await res.body.dump().catch(() => {});
  }
}

function counted(r: Readable, onBytes?: (n: number) => void): Readable {
  if (!onBytes) return r;
  const t = new Transform({
    transform(c: Buffer, _enc, cb) {
      onBytes(c.length);
      cb(null, c);
    },
  });
  r.on('error', (e) => t.destroy(e));
  t.on('close', () => r.destroy()); // a failed request closes the file too
  return r.pipe(t);
}

export function descriptorOf(m: FetchedManifest): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
}
