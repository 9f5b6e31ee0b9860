/**
 * OCI image index, manifest and config, and Docker schema-2 manifest and manifest list (read),
 * as typed values validated from unknown JSON. Pure: bytes or values in, values or BrigError out.
 *
 * Errors: ERR_IMAGE_INVALID (malformed: the message names the field path and what was wrong),
 * ERR_IMAGE_MEDIA_TYPE (a media type brig does not handle where one it handles is required, or a
 * document whose own mediaType contradicts its descriptor), ERR_DIGEST_INVALID is folded into
 * ERR_IMAGE_INVALID with the field path.
 *
 * What is checked (image-spec v1.1): schemaVersion 2; descriptors have mediaType, a sha256 digest,
 * a non-negative safe-integer size, string annotations, a well-formed platform; manifests have a
 * config and a layer list whose media types brig can unpack; configs have os, architecture and
 * rootfs {type: "layers", diff_ids}; the number of diff_ids equals the number of layers (checked by
 * `checkConfigMatchesManifest`). Unknown fields are kept and ignored, as the spec requires.
 */

import { isDigest } from '../content/digest.ts';
import type { Descriptor, Digest } from '../content/store.ts';
import { Checker, type JsonObject, join } from './check.ts';

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondist: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

const LAYER_COMPRESSION: Readonly<Record<string, Compression>> = {
  [MEDIA_TYPES.ociLayer]: 'none',
  [MEDIA_TYPES.ociLayerGzip]: 'gzip',
  [MEDIA_TYPES.ociLayerZstd]: 'zstd',
  [MEDIA_TYPES.ociLayerNondist]: 'none',
  [MEDIA_TYPES.ociLayerNondistGzip]: 'gzip',
  [MEDIA_TYPES.ociLayerNondistZstd]: 'zstd',
  [MEDIA_TYPES.dockerLayerGzip]: 'gzip',
  [MEDIA_TYPES.dockerLayerForeignGzip]: 'gzip',
  [MEDIA_TYPES.dockerLayerTar]: 'none',
};

/** The compression of a layer media type, or undefined when brig cannot unpack it. */
export function layerCompression(mediaType: string): Compression | undefined {
  return LAYER_COMPRESSION[mediaType];
}

export function isIndexMediaType(mt: string): boolean {
  return mt === MEDIA_TYPES.ociIndex || mt === MEDIA_TYPES.dockerManifestList;
}
export function isManifestMediaType(mt: string): boolean {
  return mt === MEDIA_TYPES.ociManifest || mt === MEDIA_TYPES.dockerManifest;
}
export function isConfigMediaType(mt: string): boolean {
  return mt === MEDIA_TYPES.ociConfig || mt === MEDIA_TYPES.dockerConfig;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

export interface History {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: History[];
  /** The raw `brig` section; validate with parseBrigSection (./brig-section.ts). */
  brig?: unknown;
}

/** Parses JSON bytes, failing with ERR_IMAGE_INVALID naming the document. */
export function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (e) {
    return new Checker('ERR_IMAGE_INVALID', what).fail('', `not valid JSON (${(e as Error).message})`);
  }
}

export function parseDescriptor(c: Checker, v: unknown, path: string): Descriptor {
  const o = c.object(v, path);
  const mediaType = c.nonEmptyString(o.mediaType, join(path, 'mediaType'));
  const digest = o.digest;
  if (!isDigest(digest))
    c.fail(
      join(path, 'digest'),
      `expected sha256:<64 lowercase hex digits>, found ${JSON.stringify(digest)}`,
    );
  const size = c.integer(o.size, join(path, 'size'), 0);
  const d: Descriptor = { mediaType, digest, size };
  if (o.annotations !== undefined) d.annotations = c.stringMap(o.annotations, join(path, 'annotations'));
  if (o.urls !== undefined) d.urls = c.stringArray(o.urls, join(path, 'urls'));
  if (o.platform !== undefined) d.platform = parsePlatform(c, o.platform, join(path, 'platform'));
  if (o.artifactType !== undefined) c.string(o.artifactType, join(path, 'artifactType'));
  return d;
}

export function parsePlatform(c: Checker, v: unknown, path: string): Platform {
  const o = c.object(v, path);
  const p: Platform = {
    os: c.nonEmptyString(o.os, join(path, 'os')),
    architecture: c.nonEmptyString(o.architecture, join(path, 'architecture')),
  };
  if (o.variant !== undefined) p.variant = c.string(o.variant, join(path, 'variant'));
  if (o['os.version'] !== undefined) p['os.version'] = c.string(o['os.version'], join(path, 'os.version'));
  if (o['os.features'] !== undefined)
    p['os.features'] = c.stringArray(o['os.features'], join(path, 'os.features'));
  return p;
}

function schemaVersion2(c: Checker, o: JsonObject): 2 {
  if (o.schemaVersion !== 2) c.fail('schemaVersion', `expected 2, found ${JSON.stringify(o.schemaVersion)}`);
  return 2;
}

/**
 * The document's own mediaType must agree with the descriptor that led to it (image-spec: it
 * SHOULD be present; a mismatch means someone swapped documents). When absent, the descriptor's
 * type is taken.
 */
function documentMediaType(
  c: Checker,
  o: JsonObject,
  expected: string | undefined,
  allowed: readonly string[],
): string {
  const own = c.optString(o.mediaType, 'mediaType');
  const mt = own ?? expected ?? allowed[0]!;
  if (!allowed.includes(mt))
    c.fail('mediaType', `"${mt}" is not one of ${allowed.join(', ')}`, 'ERR_IMAGE_MEDIA_TYPE');
  if (own !== undefined && expected !== undefined && own !== expected) {
    c.fail(
      'mediaType',
      `document says "${own}" but its descriptor says "${expected}"`,
      'ERR_IMAGE_MEDIA_TYPE',
    );
  }
  return mt;
}

/** An OCI image index or a Docker manifest list. */
export function parseIndex(doc: unknown, opts: { what?: string; mediaType?: string } = {}): ImageIndex {
  const c: Checker = new Checker('ERR_IMAGE_INVALID', opts.what ?? 'image index');
  const o = c.object(doc, '');
  const idx: ImageIndex = {
    schemaVersion: schemaVersion2(c, o),
    mediaType: documentMediaType(c, o, opts.mediaType, [
      MEDIA_TYPES.ociIndex,
      MEDIA_TYPES.dockerManifestList,
    ]),
    manifests: c.array(o.manifests, 'manifests').map((d, i) => parseDescriptor(c, d, `manifests[${i}]`)),
  };
  if (o.annotations !== undefined) idx.annotations = c.stringMap(o.annotations, 'annotations');
  if (o.config !== undefined || o.layers !== undefined)
    c.fail('', 'an index must not have config or layers (is it a manifest?)');
  return idx;
}

/** An OCI image manifest or a Docker schema-2 manifest. */
export function parseManifest(doc: unknown, opts: { what?: string; mediaType?: string } = {}): ImageManifest {
  const c: Checker = new Checker('ERR_IMAGE_INVALID', opts.what ?? 'image manifest');
  const o = c.object(doc, '');
  const mediaType = documentMediaType(c, o, opts.mediaType, [
    MEDIA_TYPES.ociManifest,
    MEDIA_TYPES.dockerManifest,
  ]);
  if (o.manifests !== undefined) c.fail('', 'a manifest must not have manifests (is it an index?)');
  const config = parseDescriptor(c, o.config, 'config');
  if (!isConfigMediaType(config.mediaType)) {
    c.fail(
      'config.mediaType',
      `"${config.mediaType}" is not an image config media type`,
      'ERR_IMAGE_MEDIA_TYPE',
    );
  }
  const layers = c.array(o.layers, 'layers').map((d, i) => {
    const l = parseDescriptor(c, d, `layers[${i}]`);
    if (layerCompression(l.mediaType) === undefined) {
      c.fail(
        `layers[${i}].mediaType`,
        `"${l.mediaType}" is not a layer media type brig can unpack`,
        'ERR_IMAGE_MEDIA_TYPE',
      );
    }
    return l;
  });
  const m: ImageManifest = { schemaVersion: schemaVersion2(c, o), mediaType, config, layers };
  if (o.annotations !== undefined) m.annotations = c.stringMap(o.annotations, 'annotations');
  if (o.subject !== undefined) parseDescriptor(c, o.subject, 'subject');
  return m;
}

function parseContainerConfig(c: Checker, v: unknown, path: string): ContainerConfig {
  const o = c.object(v, path);
  const cc: ContainerConfig = {};
  const p = (k: string) => join(path, k);
  const user = o.User === null ? undefined : c.optString(o.User, p('User'));
  if (user !== undefined) cc.User = user;
  const ports = c.optEmptyObjectSet(o.ExposedPorts, p('ExposedPorts'));
  if (ports) {
    for (const k of Object.keys(ports)) {
      if (!/^\d{1,5}(\/(tcp|udp|sctp))?$/.test(k))
        c.fail(join(p('ExposedPorts'), k), 'expected PORT[/tcp|udp|sctp]');
    }
    cc.ExposedPorts = ports;
  }
  const env = c.optStringArray(o.Env, p('Env'));
  if (env) {
    env.forEach((e, i) => {
      if (!e.includes('=') || e.startsWith('='))
        c.fail(`${p('Env')}[${i}]`, `expected NAME=VALUE, found "${e}"`);
    });
    cc.Env = env;
  }
  const ep = c.optStringArray(o.Entrypoint, p('Entrypoint'));
  if (ep) cc.Entrypoint = ep;
  const cmd = c.optStringArray(o.Cmd, p('Cmd'));
  if (cmd) cc.Cmd = cmd;
  const vols = c.optEmptyObjectSet(o.Volumes, p('Volumes'));
  if (vols) cc.Volumes = vols;
  const wd = o.WorkingDir === null ? undefined : c.optString(o.WorkingDir, p('WorkingDir'));
  if (wd !== undefined) cc.WorkingDir = wd;
  const labels = c.optStringMap(o.Labels, p('Labels'));
  if (labels) cc.Labels = labels;
  const sig = o.StopSignal === null ? undefined : c.optString(o.StopSignal, p('StopSignal'));
  if (sig !== undefined) cc.StopSignal = sig;
  return cc;
}

/** An OCI image config (also what Docker writes as its image config). */
export function parseConfig(doc: unknown, opts: { what?: string } = {}): ImageConfig {
  const c: Checker = new Checker('ERR_IMAGE_INVALID', opts.what ?? 'image config');
  const o = c.object(doc, '');
  const rootfs = c.object(o.rootfs, 'rootfs');
  if (rootfs.type !== 'layers')
    c.fail('rootfs.type', `expected "layers", found ${JSON.stringify(rootfs.type)}`);
  const diffIds = c.array(rootfs.diff_ids, 'rootfs.diff_ids').map((d, i): Digest => {
    if (!isDigest(d))
      c.fail(
        `rootfs.diff_ids[${i}]`,
        `expected sha256:<64 lowercase hex digits>, found ${JSON.stringify(d)}`,
      );
    return d;
  });
  const cfg: ImageConfig = {
    architecture: c.nonEmptyString(o.architecture, 'architecture'),
    os: c.nonEmptyString(o.os, 'os'),
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  if (o.created !== undefined) {
    const created = c.string(o.created, 'created');
    if (Number.isNaN(Date.parse(created))) c.fail('created', `"${created}" is not an RFC 3339 date-time`);
    cfg.created = created;
  }
  if (o.author !== undefined) cfg.author = c.string(o.author, 'author');
  if (o.variant !== undefined) cfg.variant = c.string(o.variant, 'variant');
  if (o['os.version'] !== undefined) cfg['os.version'] = c.string(o['os.version'], 'os.version');
  if (o['os.features'] !== undefined) cfg['os.features'] = c.stringArray(o['os.features'], 'os.features');
  if (o.config !== undefined && o.config !== null) cfg.config = parseContainerConfig(c, o.config, 'config');
  if (o.history !== undefined && o.history !== null) {
    cfg.history = c.array(o.history, 'history').map((h, i) => {
      const ho = c.object(h, `history[${i}]`);
      const out: History = {};
      for (const k of ['created', 'author', 'created_by', 'comment'] as const) {
        const s = c.optString(ho[k], `history[${i}].${k}`);
        if (s !== undefined) out[k] = s;
      }
      const empty = c.optBoolean(ho.empty_layer, `history[${i}].empty_layer`);
      if (empty !== undefined) out.empty_layer = empty;
      return out;
    });
  }
  if (o.brig !== undefined) cfg.brig = o.brig;
  return cfg;
}

/** A config belongs to a manifest only if it lists one diff_id per layer. */
export function checkConfigMatchesManifest(
  config: ImageConfig,
  manifest: ImageManifest,
  what = 'image',
): void {
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    new Checker('ERR_IMAGE_INVALID', what).fail(
      'rootfs.diff_ids',
      `the config lists ${config.rootfs.diff_ids.length} diff_ids but the manifest has ${manifest.layers.length} layers`,
    );
  }
  // history is not checked against the layers: many tools write it inconsistently, and it is
  // informational only (image-spec).
}

/** Checks that a descriptor points at a document of the kind the caller expects. */
export function expectMediaType(
  d: Descriptor,
  kind: 'index' | 'manifest' | 'index-or-manifest',
  what: string,
): void {
  const ok =
    kind === 'index'
      ? isIndexMediaType(d.mediaType)
      : kind === 'manifest'
        ? isManifestMediaType(d.mediaType)
        : isIndexMediaType(d.mediaType) || isManifestMediaType(d.mediaType);
  if (!ok) {
    new Checker('ERR_IMAGE_MEDIA_TYPE', what).fail(
      'mediaType',
      `"${d.mediaType}" is not an image ${kind.replace(/-/g, ' ')}`,
    );
  }
}
