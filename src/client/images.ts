/**
 * Typed wrappers of the images API (src/api/routes/images.ts). Image names go URL-encoded as one
 * path segment; paths must already be absolute (the CLI resolves them against its cwd).
 */
import type { Readable } from 'node:stream';
import type {
  ExportResult,
  ImageDetails,
  ImageSummary,
  ImportResult,
  PruneResult,
  RemoveResult,
  UnpackResult,
} from '../images/image-service.ts';
import type { BrigClient } from './client.ts';

export type {
  ExportResult,
  ImageDetails,
  ImageSummary,
  ImportResult,
  PruneResult,
  RemoveResult,
  UnpackResult,
};

const seg = (name: string) => encodeURIComponent(name);

export function listImages(c: BrigClient): Promise<ImageSummary[]> {
  return c.request<ImageSummary[]>('GET', '/images');
}

export function inspectImage(c: BrigClient, name: string): Promise<ImageDetails> {
  return c.request<ImageDetails>('GET', `/images/${seg(name)}/json`);
}

export function importImage(
  c: BrigClient,
  source: string,
  opts: { name?: string; ref?: string; platform?: string } = {},
): Promise<ImportResult> {
  return c.request<ImportResult>('POST', '/images/import', { body: { source, ...opts } });
}

/**
 * Imports the archive read from `archive` (an OCI archive, docker-archive or root filesystem
 * tarball; plain, gzip or zstd): the bytes travel in the request body, so brigd needs no access
 * to the client's files (`brig image import -`). Closing the connection before the answer
 * (interrupting the caller) cancels the import; brigd undoes it.
 */
export function importImageArchive(
  c: BrigClient,
  archive: Readable,
  opts: { name?: string; ref?: string; platform?: string } = {},
): Promise<ImportResult> {
  return c.request<ImportResult>('POST', '/images/import', {
    query: opts,
    bodyStream: archive,
    headers: { 'content-type': 'application/x-tar' },
  });
}

export function exportImage(c: BrigClient, name: string, dest: string): Promise<ExportResult> {
  return c.request<ExportResult>('POST', `/images/${seg(name)}/export`, { body: { dest } });
}

export function unpackImage(c: BrigClient, name: string, dir: string): Promise<UnpackResult> {
  return c.request<UnpackResult>('POST', `/images/${seg(name)}/unpack`, { body: { dir } });
}

export function tagImage(
  c: BrigClient,
  source: string,
  target: string,
): Promise<{ id: string; name: string }> {
  return c.request('POST', `/images/${seg(source)}/tag`, { body: { target } });
}

export function removeImage(
  c: BrigClient,
  name: string,
  opts: { force?: boolean } = {},
): Promise<RemoveResult> {
  return c.request<RemoveResult>('DELETE', `/images/${seg(name)}`, {
    query: { force: opts.force ? '1' : undefined },
  });
}

export function pruneImages(c: BrigClient, opts: { all?: boolean } = {}): Promise<PruneResult> {
  return c.request<PruneResult>('POST', '/images/prune', { query: { all: opts.all ? '1' : undefined } });
}
