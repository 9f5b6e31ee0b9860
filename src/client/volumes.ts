import type { Volume } from '../volumes/volume-service.ts';
import type { BrigClient } from './client.ts';

export type { Volume };

export function listVolumes(c: BrigClient, filter: string[] = []): Promise<Volume[]> {
  return c.request<Volume[]>('GET', '/volumes', { query: { filter } });
}

export function createVolume(
  c: BrigClient,
  v: { name?: string; driver?: string; labels?: Record<string, string>; options?: Record<string, string> },
): Promise<Volume> {
  return c.request<Volume>('POST', '/volumes', { body: v });
}

export function inspectVolume(c: BrigClient, name: string): Promise<Volume> {
  return c.request<Volume>('GET', `/volumes/${encodeURIComponent(name)}`);
}

export async function removeVolume(
  c: BrigClient,
  name: string,
  opts: { force?: boolean } = {},
): Promise<void> {
  await c.request('DELETE', `/volumes/${encodeURIComponent(name)}`, {
    query: { force: opts.force ? '1' : undefined },
  });
}

export function pruneVolumes(
  c: BrigClient,
  opts: { all?: boolean; filter?: string[] } = {},
): Promise<{ removed: string[]; spaceReclaimed: number }> {
  return c.request('POST', '/volumes/prune', {
    query: { all: opts.all ? '1' : undefined, filter: opts.filter },
  });
}
