/**
 * Typed wrappers for the registry routes (docs/api.md, "Registry"). Pull and push stream NDJSON
 * progress lines (`{"progress": ProgressEvent}`) and end with `{"result": ...}` or an in-band
 * `{"error": ...}` line, which `BrigClient.lines` throws as the BrigError it carries.
 */
import type { ProgressEvent } from '../registry/progress.ts';
import type { BrigClient } from './client.ts';

export type { ProgressEvent };

export interface PullSummary {
  /** The name the image was recorded under (canonical reference). */
  name: string;
  id: string;
  manifestDigest: string;
  /** What the tag pointed at in the registry (an index when multi-platform). */
  targetDigest: string;
  platform: string;
  bytesFetched: number;
}

export interface PushSummary {
  name: string;
  digest: string;
  mediaType: string;
  size: number;
  keptPlatforms?: string[];
  bytesUploaded: number;
}

interface Line<T> {
  progress?: ProgressEvent;
  result?: T;
}

async function streamed<T>(
  lines: AsyncGenerator<Line<T>>,
  onProgress?: (e: ProgressEvent) => void,
): Promise<T> {
  let result: T | undefined;
  for await (const l of lines) {
    if (l.progress && onProgress) onProgress(l.progress);
    if (l.result !== undefined) result = l.result;
  }
  if (result === undefined) throw new Error('brigd ended the stream without a result');
  return result;
}

export function pullImage(
  c: BrigClient,
  reference: string,
  opts: { platform?: string; unpack?: boolean } = {},
  onProgress?: (e: ProgressEvent) => void,
): Promise<PullSummary> {
  return streamed(
    c.lines<Line<PullSummary>>('POST', '/registry/pull', { body: { reference, ...opts } }),
    onProgress,
  );
}

export function pushImage(
  c: BrigClient,
  image: string,
  onProgress?: (e: ProgressEvent) => void,
): Promise<PushSummary> {
  return streamed(c.lines<Line<PushSummary>>('POST', '/registry/push', { body: { image } }), onProgress);
}

export function login(
  c: BrigClient,
  host: string,
  username: string,
  password: string,
): Promise<{ host: string }> {
  return c.request<{ host: string }>('POST', '/registry/login', { body: { host, username, password } });
}

export function logout(c: BrigClient, host: string): Promise<{ host: string; removed: boolean }> {
  return c.request<{ host: string; removed: boolean }>('POST', '/registry/logout', { body: { host } });
}
