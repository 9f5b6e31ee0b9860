/**
 * HTTP transport to registries: one undici `Agent` per origin (its TLS settings come from the
 * registry configuration), authentication, retries and the translation of registry errors.
 *
 * Contract of `send()`:
 *   - returns the response when its status is one the caller expects (`ok`); the caller owns and
 *     must consume or dump the body;
 *   - 401 -> the Authorizer answers the challenge and the request is retried once;
 *   - 429 -> waits `Retry-After` (capped) and retries; 5xx and broken connections -> retries with
 *     exponential back-off and jitter; after the last attempt the error is thrown;
 *   - redirects (blob downloads from object storage) are followed for GET/HEAD, without the
 *     Authorization header when the redirect leaves the origin;
 *   - any other status -> a BrigError from the registry's error body (ERR_REGISTRY_*);
 *   - plain HTTP is only tried for endpoints that allow it (registries.insecure), after HTTPS fails
 *     at the connection level; the choice is remembered per host.
 * Error messages name the registry, the repository and what was asked, never credentials.
 */

import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, request } from 'undici';
import { BrigError, type ErrorCode } from '../errors/errors.ts';
import { Authorizer } from './auth.ts';
import type { Endpoint, RegistryHosts, TlsSettings } from './config.ts';
import type { Credentials } from './credentials.ts';

/** Where the transport finds credentials for a host (the CredentialStore, or fixed ones for a login check). */
export interface CredentialSource {
  get(host: string): Promise<Credentials | undefined>;
}

export type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RetryPolicy {
  /** Total attempts for one request, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is not waited for: ERR_REGISTRY_TOO_MANY_REQUESTS at once. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8000,
  maxRetryAfterMs: 60_000,
};

export interface SendRequest {
  method: Method;
  /** Path under the endpoint's base (`/v2/...`) or an absolute URL (an upload Location). */
  path: string;
  headers?: Record<string, string>;
  /** A Buffer, or a factory giving a fresh stream for every attempt. */
  body?: Buffer | (() => Readable);
  /** Token scopes (`repository:NAME:pull,push`). */
  scopes: string[];
  /** Statuses handed back to the caller. */
  ok: readonly number[];
  /** Describes the request in error messages ("manifest reg/app:1"). */
  what: string;
  /** Repository, for error details. */
  repository?: string;
  /** Set false for requests whose side effects must not be repeated. */
  retry?: boolean;
}

export interface TransportOptions {
  hosts: RegistryHosts;
  credentials: CredentialSource;
  userAgent?: string;
  retry?: Partial<RetryPolicy>;
  /** Diagnostic lines (never carrying credentials). */
  log?: (line: string) => void;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

function errCode(e: unknown): string | undefined {
  const x = e as { code?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof x?.code === 'string' && x.code !== 'UND_ERR_SOCKET') return x.code;
  if (typeof x?.cause?.code === 'string') return x.cause.code;
  return typeof x?.code === 'string' ? x.code : undefined;
}

export function isTlsError(e: unknown): boolean {
  const c = errCode(e) ?? '';
  return (
    c.startsWith('ERR_SSL') ||
    c.startsWith('ERR_TLS') ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|LEAF_SIGNATURE/.test(c) ||
    /ssl|tls/i.test((e as Error)?.message ?? '')
  );
}

/** A broken connection or a failure worth retrying. */
export function isNetworkError(e: unknown): boolean {
  if (e instanceof BrigError) return false;
  const c = errCode(e);
  return (c !== undefined && NETWORK_CODES.has(c)) || (e as Error)?.name === 'SocketError';
}

const REDIRECTS = [301, 302, 303, 307, 308];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Retry-After: seconds or an HTTP date; undefined when absent or unparseable. */
export function retryAfterMs(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

interface RegistryErrorBody {
  errors?: { code?: unknown; message?: unknown; detail?: unknown }[];
}

function mapRegistryCode(code: string, status: number): ErrorCode {
  switch (code) {
    case 'BLOB_UNKNOWN':
    case 'BLOB_UPLOAD_UNKNOWN':
    case 'MANIFEST_UNKNOWN':
    case 'NAME_UNKNOWN':
      return 'ERR_REGISTRY_NOT_FOUND';
    case 'UNAUTHORIZED':
      return 'ERR_REGISTRY_UNAUTHORIZED';
    case 'DENIED':
      return 'ERR_REGISTRY_DENIED';
    case 'TOOMANYREQUESTS':
      return 'ERR_REGISTRY_TOO_MANY_REQUESTS';
    case 'DIGEST_INVALID':
    case 'MANIFEST_INVALID':
    case 'MANIFEST_BLOB_UNKNOWN':
    case 'MANIFEST_UNVERIFIED':
    case 'NAME_INVALID':
    case 'SIZE_INVALID':
    case 'TAG_INVALID':
    case 'BLOB_UPLOAD_INVALID':
    case 'RANGE_INVALID':
    case 'PAGINATION_NUMBER_INVALID':
      return 'ERR_REGISTRY_REJECTED';
    case 'UNSUPPORTED':
      return 'ERR_REGISTRY_PROTOCOL';
    default:
      return statusCode(status);
  }
}

function statusCode(status: number): ErrorCode {
  if (status === 401) return 'ERR_REGISTRY_UNAUTHORIZED';
  if (status === 403) return 'ERR_REGISTRY_DENIED';
  if (status === 404) return 'ERR_REGISTRY_NOT_FOUND';
  if (status === 429) return 'ERR_REGISTRY_TOO_MANY_REQUESTS';
  if (status >= 500) return 'ERR_REGISTRY_UNAVAILABLE';
  if (status === 400 || status === 413 || status === 416) return 'ERR_REGISTRY_REJECTED';
  return 'ERR_REGISTRY_PROTOCOL';
}

/** Builds the BrigError for an unexpected response, consuming its body. */
export async function registryError(
  ep: Endpoint,
  req: SendRequest,
  res: Dispatcher.ResponseData,
): Promise<BrigError> {
  let body: RegistryErrorBody | undefined;
  if (req.method !== 'HEAD') {
    try {
      const text = await res.body.text();
      body = JSON.parse(text.slice(0, 65536)) as RegistryErrorBody;
    } catch {
      body = undefined;
    }
  } else {
    await res.body.dump().catch(() => {});
  }
  const first = Array.isArray(body?.errors)
    ? body.errors.find((e) => typeof e?.code === 'string')
    : undefined;
  const regCode = typeof first?.code === 'string' ? first.code : undefined;
  const code = regCode ? mapRegistryCode(regCode, res.statusCode) : statusCode(res.statusCode);
  const regMsg = typeof first?.message === 'string' ? first.message.slice(0, 300) : undefined;
  const why = regMsg ?? (res.statusCode === 404 ? 'not found' : `HTTP ${res.statusCode}`);
  const details: Record<string, unknown> = { registry: ep.registry, status: res.statusCode };
  if (req.repository) details.repository = req.repository;
  if (regCode) details.registryCode = regCode;
  if (ep.mirror) details.mirror = ep.host;
  const ra = retryAfterMs(res.headers['retry-after']);
  if (ra !== undefined) details.retryAfterSeconds = Math.ceil(ra / 1000);
  let hint: string | undefined;
  if (code === 'ERR_REGISTRY_UNAUTHORIZED') hint = `Log in with \`brig login ${ep.registry}\`.`;
  if (code === 'ERR_REGISTRY_NOT_FOUND' && res.statusCode === 401)
    hint = `Check the name, or log in with \`brig login ${ep.registry}\`.`;
  return new BrigError(code, `${ep.registry}: ${req.what}: ${why}${regCode ? ` (${regCode})` : ''}`, {
    details,
    ...(hint ? { hint } : {}),
  });
}

export class RegistryTransport {
  readonly hosts: RegistryHosts;
  readonly credentials: CredentialSource;
  readonly auth: Authorizer;
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly #log: (line: string) => void;
  readonly #agents = new Map<string, Agent>();
  /** Hosts that turned out to speak plain HTTP (insecure hosts only). */
  readonly #http = new Set<string>();
  /** Insecure hosts that answered over HTTPS. */
  readonly #https = new Set<string>();
  /**
   * Insecure hosts whose first HTTPS attempt is under way: other requests wait for its outcome
   * instead of each trying HTTPS too (a push sends its first requests all at once).
   */
  readonly #probing = new Map<string, Promise<void>>();

  constructor(o: TransportOptions) {
    this.hosts = o.hosts;
    this.credentials = o.credentials;
    this.retry = { ...DEFAULT_RETRY, ...o.retry };
    this.userAgent = o.userAgent ?? 'brig/0.1';
    this.#log = o.log ?? (() => {});
    this.auth = new Authorizer({
      credentials: (host) => this.credentials.get(host),
      dispatcherFor: (url) =>
        this.dispatcher(url.protocol === 'https:' ? 'https' : 'http', url.host, this.hosts.tls(url.host)),
      userAgent: this.userAgent,
    });
  }

  /** The Agent for an origin (created on first use, reused after). */
  dispatcher(scheme: 'https' | 'http', host: string, tls: TlsSettings): Agent {
    const key = `${scheme}://${host}`;
    let a = this.#agents.get(key);
    if (!a) {
      a = new Agent({
        connections: 16,
        keepAliveTimeout: 30_000,
        connect:
          scheme === 'https'
            ? {
                rejectUnauthorized: tls.rejectUnauthorized,
                ...(tls.ca ? { ca: [...rootCertificates, ...tls.ca] } : {}),
                ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}),
              }
            : {},
      });
      this.#agents.set(key, a);
    }
    return a;
  }

  /** The origin (`https://host`) requests to this endpoint go to now. */
  origin(ep: Endpoint): string {
    if (ep.allowHttp && this.#http.has(ep.host)) return ep.base.replace(/^https:/, 'http:');
    return ep.base;
  }

  async close(): Promise<void> {
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    await Promise.all(agents.map((a) => a.close().catch(() => {})));
  }

  async send(ep: Endpoint, req: SendRequest): Promise<Dispatcher.ResponseData> {
    const retries = req.retry === false ? 1 : this.retry.attempts;
    let authRetried = false;
    let authHeader: string | undefined;
    let lastErr: unknown;
    // this request finds out whether an insecure host speaks HTTPS; `settled` lets the others go
    let settled: (() => void) | undefined;
    const settle = () => {
      settled?.();
      settled = undefined;
    };
    try {
      for (let attempt = 1; attempt <= retries; attempt++) {
        if (ep.allowHttp && settled === undefined && !this.#http.has(ep.host) && !this.#https.has(ep.host)) {
          const probe = this.#probing.get(ep.host);
          if (probe) await probe;
          else {
            let done!: () => void;
            this.#probing.set(
              ep.host,
              new Promise<void>((r) => {
                done = r;
              }),
            );
            settled = () => {
              this.#probing.delete(ep.host);
              done();
            };
          }
        }
        const base = this.origin(ep);
        const url = /^https?:\/\//.test(req.path) ? new URL(req.path) : new URL(base + req.path);
        // An upload Location from an HTTPS registry may not downgrade; one from an http registry is fine.
        if (url.protocol === 'http:' && !ep.allowHttp) {
          throw new BrigError(
            'ERR_REGISTRY_PROTOCOL',
            `${ep.registry}: ${req.what}: the registry sent brig to plain HTTP (${url.host})`,
          );
        }
        const scheme = url.protocol === 'https:' ? 'https' : 'http';
        const sameOrigin = url.host === new URL(base).host;
        if (sameOrigin) authHeader ??= await this.auth.header(url.origin, ep.host, req.scopes);
        const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
        if (authHeader && sameOrigin) headers.authorization = authHeader;
        let res: Dispatcher.ResponseData;
        try {
          const body = req.body === undefined ? undefined : Buffer.isBuffer(req.body) ? req.body : req.body();
          res = await request(url, {
            method: req.method,
            headers,
            body,
            dispatcher: this.dispatcher(scheme, url.host, this.hosts.tls(url.host)),
          });
          if (scheme === 'https' && ep.allowHttp && sameOrigin) this.#https.add(ep.host);
          settle();
        } catch (e) {
          lastErr = e;
          if (scheme === 'https' && ep.allowHttp && sameOrigin && !isCertificateError(e)) {
            // insecure host: HTTPS failed at the connection level, fall back to plain HTTP
            // (requests that did not wait for the probe may land here too: the switch is idempotent)
            if (!this.#http.has(ep.host))
              this.#log(`${ep.host}: HTTPS failed (${errCode(e) ?? 'error'}), using plain HTTP`);
            this.#http.add(ep.host);
            settle();
            attempt--;
            continue;
          }
          settle();
          if (isTlsError(e) && !isNetworkError(e)) {
            throw new BrigError(
              'ERR_REGISTRY_TLS',
              `${ep.registry}: TLS connection to ${url.host} failed: ${(e as Error).message}`,
              {
                cause: e,
                details: { registry: ep.registry, host: url.host, code: errCode(e) },
              },
            );
          }
          if (!isNetworkError(e) || attempt === retries) throw this.#unreachable(ep, req, url, e);
          await this.#backoff(ep, req, attempt, `${errCode(e) ?? 'connection error'}`);
          continue;
        }
        if (req.ok.includes(res.statusCode)) return res;
        if (res.statusCode === 401 && !authRetried && sameOrigin) {
          authRetried = true;
          const www = header(res, 'www-authenticate');
          await res.body.dump().catch(() => {});
          authHeader = await this.auth.challenged(url.origin, ep.host, req.scopes, www);
          if (authHeader !== undefined) {
            attempt--;
            continue;
          }
          throw new BrigError(
            'ERR_REGISTRY_UNAUTHORIZED',
            `${ep.registry}: ${req.what}: authentication required`,
            {
              hint: `Log in with \`brig login ${ep.registry}\`.`,
              details: {
                registry: ep.registry,
                status: 401,
                ...(req.repository ? { repository: req.repository } : {}),
              },
            },
          );
        }
        if (REDIRECTS.includes(res.statusCode) && (req.method === 'GET' || req.method === 'HEAD'))
          return this.#redirect(ep, req, res, url, headers, 5);
        if (res.statusCode === 429 && attempt < retries) {
          const ra = retryAfterMs(res.headers['retry-after']);
          if (ra === undefined || ra <= this.retry.maxRetryAfterMs) {
            await res.body.dump().catch(() => {});
            this.#log(`${ep.registry}: ${req.what}: rate-limited, retrying`);
            if (ra !== undefined) await sleep(ra);
            else await this.#backoff(ep, req, attempt, '429');
            continue;
          }
        }
        if ([500, 502, 503, 504].includes(res.statusCode) && attempt < retries) {
          await res.body.dump().catch(() => {});
          await this.#backoff(ep, req, attempt, `HTTP ${res.statusCode}`);
          continue;
        }
        throw await registryError(ep, req, res);
      }
    } finally {
      settle();
    }
    throw this.#unreachable(ep, req, undefined, lastErr);
  }

  /** Follows a redirect chain (GET/HEAD only); Authorization only stays on the same origin. */
  async #follow(
    ep: Endpoint,
    req: SendRequest,
    url: URL,
    headers: Record<string, string>,
    left: number,
  ): Promise<Dispatcher.ResponseData> {
    if (left === 0)
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `${ep.registry}: ${req.what}: too many redirects`);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && ep.allowHttp)) {
      throw new BrigError(
        'ERR_REGISTRY_PROTOCOL',
        `${ep.registry}: ${req.what}: redirected to plain HTTP (${url.host})`,
      );
    }
    const h = { ...headers };
    if (url.host !== new URL(this.origin(ep)).host) delete h.authorization;
    let res: Dispatcher.ResponseData;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await request(url, {
          method: req.method,
          headers: h,
          dispatcher: this.dispatcher(
            url.protocol === 'https:' ? 'https' : 'http',
            url.host,
            this.hosts.tls(url.host),
          ),
        });
        break;
      } catch (e) {
        if (!isNetworkError(e) || attempt >= this.retry.attempts) throw this.#unreachable(ep, req, url, e);
        await this.#backoff(ep, req, attempt, errCode(e) ?? 'connection error');
      }
    }
    if (req.ok.includes(res.statusCode)) return res;
    if (REDIRECTS.includes(res.statusCode)) return this.#redirect(ep, req, res, url, h, left - 1);
    throw await registryError(ep, req, res);
  }

  /** Goes to the Location of a redirect `res` from `from` (its body discarded), `left` more allowed. */
  async #redirect(
    ep: Endpoint,
    req: SendRequest,
    res: Dispatcher.ResponseData,
    from: URL,
    headers: Record<string, string>,
    left: number,
  ): Promise<Dispatcher.ResponseData> {
    const loc = header(res, 'location');
    await res.body.dump().catch(() => {});
    if (!loc)
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `${ep.registry}: ${req.what}: redirect without Location`);
    return this.#follow(ep, req, new URL(loc, from), headers, left);
  }

  async #backoff(ep: Endpoint, req: SendRequest, attempt: number, why: string): Promise<void> {
    const exp = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    const ms = Math.round(exp / 2 + Math.random() * (exp / 2));
    this.#log(`${ep.registry}: ${req.what}: ${why}; retry ${attempt} in ${ms} ms`);
    await sleep(ms);
  }

  #unreachable(ep: Endpoint, req: SendRequest, url: URL | undefined, e: unknown): BrigError {
    if (e instanceof BrigError) return e;
    const host = url?.host ?? ep.host;
    return new BrigError(
      'ERR_REGISTRY_UNAVAILABLE',
      `${ep.registry}: ${req.what}: cannot reach ${host}: ${errCode(e) ?? (e as Error)?.message ?? 'error'}`,
      {
        cause: e,
        details: { registry: ep.registry, host, ...(req.repository ? { repository: req.repository } : {}) },
      },
    );
  }
}

/** A certificate the client refused (as opposed to a peer that does not speak TLS at all). */
function isCertificateError(e: unknown): boolean {
  const c = errCode(e) ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|LEAF_SIGNATURE|ERR_TLS_CERT/.test(c);
}
