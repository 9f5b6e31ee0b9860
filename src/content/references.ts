/**
 * The references GC follows: the descriptors an index (OCI or Docker manifest list) or a manifest
 * (OCI or Docker schema 2) points at. Deliberately tolerant: GC must never crash on a blob it
 * cannot parse, and a malformed document simply references nothing (its validation is the image
 * layer's business, at import time).
 */
import { isDigest } from './digest.ts';
import type { Digest } from './store.ts';

/** Media types whose blobs are JSON documents that reference other blobs. */
export const REFERENCING_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);

/** Largest manifest/index GC reads (the distribution spec suggests 4 MiB for manifests). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ChildRef {
  digest: Digest;
  mediaType: string;
}

export function childReferences(bytes: Buffer): ChildRef[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const out: ChildRef[] = [];
  const add = (d: unknown) => {
    if (typeof d !== 'object' || d === null) return;
    const { digest, mediaType } = d as { digest?: unknown; mediaType?: unknown };
    if (isDigest(digest)) out.push({ digest, mediaType: typeof mediaType === 'string' ? mediaType : '' });
  };
  const o = doc as Record<string, unknown>;
  if (Array.isArray(o.manifests)) o.manifests.forEach(add);
  add(o.config);
  if (Array.isArray(o.layers)) o.layers.forEach(add);
  add(o.subject);
  return out;
}
