/**
 * A small router for brigd's HTTP/JSON API. Routes are `METHOD /path/:param`; a handler gets an
 * ApiRequest and returns a JSON-able value (200), `created(value)` (201), `noContent` (204) or
 * `STREAMED` after writing the response itself. A thrown BrigError becomes `{ error: {...} }` with
 * the status of its kind (./status.ts); anything else is an internal error.
 *
 * Path parameters are decoded with decodeURIComponent, so image names with '/' and ':' travel
 * as one encoded segment.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BrigError } from '../errors/errors.ts';

export interface Caller {
  uid?: number;
  gid?: number;
  pid?: number;
}

export interface ApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  raw: IncomingMessage;
  res: ServerResponse;
  caller: Caller;
  /** The request body parsed as JSON ({} when empty). */
  json<T = Record<string, unknown>>(): Promise<T>;
}

export const STREAMED: unique symbol = Symbol('streamed');
export const noContent: unique symbol = Symbol('no-content');

export interface Created {
  readonly __created: true;
  value: unknown;
}
export function created(value: unknown): Created {
  return { __created: true, value };
}

export type Handler = (req: ApiRequest) => Promise<unknown> | unknown;
export type UpgradeHandler = (
  req: Omit<ApiRequest, 'res' | 'json'>,
  socket: Duplex,
  head: Buffer,
) => Promise<void> | void;

interface Route<H> {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: H;
  spec: string;
}

function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const src = path
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        keys.push(seg.slice(1));
        return '([^/]+)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { pattern: new RegExp(`^${src}/?$`), keys };
}

export class Router {
  readonly routes: Route<Handler>[] = [];
  readonly upgrades: Route<UpgradeHandler>[] = [];

  #add(method: string, path: string, handler: Handler): void {
    this.routes.push({ method, ...compile(path), handler, spec: `${method} ${path}` });
  }
  get(path: string, h: Handler): void {
    this.#add('GET', path, h);
  }
  post(path: string, h: Handler): void {
    this.#add('POST', path, h);
  }
  put(path: string, h: Handler): void {
    this.#add('PUT', path, h);
  }
  delete(path: string, h: Handler): void {
    this.#add('DELETE', path, h);
  }
  head(path: string, h: Handler): void {
    this.#add('HEAD', path, h);
  }
  upgrade(path: string, h: UpgradeHandler): void {
    this.upgrades.push({ method: 'POST', ...compile(path), handler: h, spec: `UPGRADE ${path}` });
  }

  match<H>(
    list: Route<H>[],
    method: string,
    path: string,
  ): { handler: H; params: Record<string, string> } | { allowed: string[] } | undefined {
    const allowed: string[] = [];
    for (const r of list) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      if (r.method !== method) {
        allowed.push(r.method);
        continue;
      }
      const params: Record<string, string> = {};
      r.keys.forEach((k, i) => {
        try {
          params[k] = decodeURIComponent(m[i + 1]!);
        } catch {
          throw new BrigError('ERR_INVALID_ARGUMENT', `bad percent-encoding in ${path}`);
        }
      });
      return { handler: r.handler, params };
    }
    return allowed.length ? { allowed } : undefined;
  }
}
