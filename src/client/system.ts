import type { BrigEvent } from '../events/events.ts';
import type { BrigClient } from './client.ts';

export interface SystemInfo {
  version: string;
  apiVersion: number;
  root: string;
  socket: string;
  configFile: string | null;
  platform: Record<string, unknown>;
  storage: Record<string, unknown>;
  runtime: Record<string, unknown>;
  node: string;
  pid: number;
  uptimeSeconds: number;
  [k: string]: unknown;
}

export function systemInfo(c: BrigClient): Promise<SystemInfo> {
  return c.request<SystemInfo>('GET', '/system/info');
}

export function ping(c: BrigClient): Promise<{ ok: true }> {
  return c.request('GET', '/_ping');
}

export function events(
  c: BrigClient,
  q: { since?: number; until?: number; follow?: boolean; filter?: string[]; afterSeq?: number },
): AsyncGenerator<BrigEvent> {
  return c.lines<BrigEvent>('GET', '/events', {
    query: {
      since: q.since,
      until: q.until,
      follow: q.follow ? '1' : undefined,
      filter: q.filter,
      afterSeq: q.afterSeq,
    },
  });
}
