/**
 * Typed client for the containers API (docs/api.md § Containers), and the frame codec of the
 * hijacked streams (attach, exec): after the HTTP upgrade both sides exchange frames
 *   [u8 type][u32 big-endian length][payload]
 * types: 0 stdin, 1 stdout, 2 stderr, 3 resize (JSON {rows, cols}), 4 exit (JSON {exitCode}),
 * 5 stdin closed, 6 error (JSON BrigError body), 7 ready (the stream is attached), 8 created
 * (JSON {id}: `run` made the container).
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ContainerStats, ProcessRow } from '../platform/platform.ts';
import type { BrigClient } from './client.ts';

export const FRAME = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  resize: 3,
  exit: 4,
  stdinClose: 5,
  error: 6,
  ready: 7,
  created: 8,
} as const;

export function frame(type: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(5);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(p.length, 1);
  return Buffer.concat([h, p]);
}

/** Incremental decoder: feed bytes, get whole frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  push(b: Buffer): Array<{ type: number; payload: Buffer }> {
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    const out: Array<{ type: number; payload: Buffer }> = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf[0]!, payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}

export interface ContainerView {
  id: string;
  name: string;
  image: string;
  imageId: string;
  /** `restarting`: exited, a restart by its policy pending (src/containers/container.ts). */
  state: 'created' | 'running' | 'restarting' | 'exited' | 'dead';
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  exitCode?: number;
  reason?: string;
  error?: string;
  pid?: number;
  /** FreeBSD: the jail id of the current run. */
  jid?: number;
  restartCount: number;
  restartPolicy: string;
  command: string[];
  labels: Record<string, string>;
  /** What create was asked (inspect). */
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

export interface CreateBody {
  image: string;
  name?: string;
  command?: string[];
  entrypoint?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  tty?: boolean;
  stdin?: boolean;
  hostname?: string;
  readOnly?: boolean;
  mounts?: Array<{ kind: 'volume' | 'mount' | 'tmpfs'; value: string }>;
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  restart?: string;
  autoRemove?: boolean;
  stopSignal?: string;
  stopTimeout?: number;
  labels?: Record<string, string>;
  grants?: string[];
}

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  time: string;
  text: string;
  partial: boolean;
}

const p = (ref: string) => `/containers/${encodeURIComponent(ref)}`;

export const containers = {
  create: (c: BrigClient, body: CreateBody) => c.request<ContainerView>('POST', '/containers', { body }),
  start: (c: BrigClient, ref: string) => c.request<ContainerView>('POST', `${p(ref)}/start`),
  stop: (c: BrigClient, ref: string, q: { timeout?: number; signal?: string } = {}) =>
    c.request<ContainerView>('POST', `${p(ref)}/stop`, { query: { t: q.timeout, signal: q.signal } }),
  kill: (c: BrigClient, ref: string, signal?: string) =>
    c.request<ContainerView>('POST', `${p(ref)}/kill`, { query: { signal } }),
  restart: (c: BrigClient, ref: string, timeout?: number) =>
    c.request<ContainerView>('POST', `${p(ref)}/restart`, { query: { t: timeout } }),
  remove: (c: BrigClient, ref: string, q: { force?: boolean; volumes?: boolean } = {}) =>
    c.request<void>('DELETE', p(ref), {
      query: { force: q.force ? '1' : undefined, volumes: q.volumes ? '1' : undefined },
    }),
  list: (c: BrigClient, q: { all?: boolean; filter?: string[] } = {}) =>
    c.request<ContainerView[]>('GET', '/containers', {
      query: { all: q.all ? '1' : undefined, filter: q.filter },
    }),
  inspect: (c: BrigClient, ref: string) => c.request<ContainerView>('GET', p(ref)),
  wait: (c: BrigClient, ref: string) =>
    c.request<{ exitCode: number; reason?: string; error?: string }>('POST', `${p(ref)}/wait`),
  top: (c: BrigClient, ref: string) => c.request<ProcessRow[]>('GET', `${p(ref)}/top`),
  stats: (c: BrigClient, ref: string) => c.request<ContainerStats>('GET', `${p(ref)}/stats`),
  logs: (
    c: BrigClient,
    ref: string,
    q: { follow?: boolean; since?: string; tail?: number; timestamps?: boolean } = {},
  ): AsyncGenerator<LogEntry> =>
    c.lines<LogEntry>('GET', `${p(ref)}/logs`, {
      query: { follow: q.follow ? '1' : undefined, since: q.since, tail: q.tail },
    }),
  /** Hijacked stream to the container's stdio; with `start` the container is started once attached. */
  attach: (
    c: BrigClient,
    ref: string,
    q: { start?: boolean } = {},
  ): Promise<{ socket: Socket; head: Buffer }> =>
    c.upgrade(`${p(ref)}/attach`, { query: { start: q.start ? '1' : undefined } }),
  /**
   * `run` in one round trip: creates (errors reject here), then a hijacked stream to the
   * container's stdio that starts it and ends with its exit frame (after an autoRemove removal).
   */
  run: (c: BrigClient, body: CreateBody): Promise<{ socket: Socket; head: Buffer }> =>
    c.upgrade('/containers/run', { query: { config: JSON.stringify(body) } }),
  exec: (
    c: BrigClient,
    ref: string,
    body: { args: string[]; env?: string[]; user?: string; workdir?: string; tty?: boolean; stdin?: boolean },
  ): Promise<{ socket: Socket; head: Buffer }> =>
    c.upgrade(`${p(ref)}/exec`, { query: { config: JSON.stringify(body) } }),
  /** Copies out: a tar stream of PATH in the container. */
  copyFrom: (c: BrigClient, ref: string, path: string) =>
    c.stream('GET', `${p(ref)}/archive`, { query: { path } }),
  copyTo: (c: BrigClient, ref: string, path: string, tar: Readable) =>
    c.request<void>('PUT', `${p(ref)}/archive`, { query: { path }, bodyStream: tar }),
};
