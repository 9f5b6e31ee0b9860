/**
 * Registry authentication: WWW-Authenticate challenges (RFC 7235), basic auth, and distribution's
 * bearer-token flow (docs: distribution "Token Authentication Specification").
 *
 * Flow: a request is sent with what the Authorizer already knows for the origin (a cached token
 * for the same scopes, or basic credentials once a Basic challenge was seen). On 401 the
 * transport hands the challenge to `challenged()`, which fetches a fresh token (GET realm with
 * `service` and one `scope` parameter per scope, basic credentials when brig has some, or the
 * OAuth2 refresh-token POST for an identity token), and the request is retried once.
 *
 * Tokens are cached per origin and scope set until `expires_in` (default 60 s) minus a margin.
 * Nothing here ever logs or throws a credential or a token.
 */
import { type Dispatcher, request } from 'undici';
import { BrigError } from '../errors/errors.ts';
import type { Credentials } from './credentials.ts';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses a WWW-Authenticate header value into its challenges (scheme lowercased). */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skipWs();
    while (s[i] === ',') {
      i++;
      skipWs();
    }
    const scheme = token();
    if (!scheme) break;
    const ch: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(ch);
    for (;;) {
      skipWs();
      const save = i;
      const key = token();
      skipWs();
      if (!key || s[i] !== '=') {
        // not a parameter: the next challenge's scheme begins here
        i = save;
        break;
      }
      i++;
      skipWs();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        value = token();
      }
      ch.params[key.toLowerCase()] = value;
      skipWs();
      if (s[i] === ',') i++;
    }
  }
  return out;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

interface OriginState {
  /** The scheme the origin asked for; undefined until it has challenged. */
  scheme?: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  tokens: Map<string, CachedToken>;
}

export interface AuthorizerOptions {
  /** Credentials for the host an origin belongs to. */
  credentials(host: string): Promise<Credentials | undefined>;
  /** Dispatcher (TLS settings) to use for a token realm URL. */
  dispatcherFor(url: URL): Dispatcher;
  userAgent: string;
}

/** Keeps what each origin asked for and the tokens it issued. */
export class Authorizer {
  readonly #o: AuthorizerOptions;
  readonly #origins = new Map<string, OriginState>();

  constructor(o: AuthorizerOptions) {
    this.#o = o;
  }

  #state(origin: string): OriginState {
    let st = this.#origins.get(origin);
    if (!st) {
      st = { tokens: new Map() };
      this.#origins.set(origin, st);
    }
    return st;
  }

  /** The Authorization header to send before any challenge, if one is known to be needed. */
  async header(origin: string, host: string, scopes: string[]): Promise<string | undefined> {
    const st = this.#origins.get(origin);
    if (!st?.scheme) return undefined;
    if (st.scheme === 'basic') {
      const c = await this.#o.credentials(host);
      return c ? basicHeader(c) : undefined;
    }
    const key = scopeKey(scopes);
    const t = st.tokens.get(key);
    if (t && t.expiresAt > Date.now()) return t.header;
    return (await this.#fetchToken(st, host, scopes)).header;
  }

  /**
   * Handles a 401: records the challenge and returns the header for the retry, or undefined when
   * brig has nothing better to offer (no credentials for a Basic challenge).
   */
  async challenged(
    origin: string,
    host: string,
    scopes: string[],
    wwwAuthenticate: string | undefined,
  ): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate ?? '');
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    const basic = challenges.find((c) => c.scheme === 'basic');
    const st = this.#state(origin);
    if (bearer?.params.realm) {
      st.scheme = 'bearer';
      st.realm = bearer.params.realm;
      st.service = bearer.params.service;
      st.tokens.delete(scopeKey(scopes));
      const extra = bearer.params.scope ? bearer.params.scope.split(' ') : [];
      const all = [...new Set([...scopes, ...extra])];
      const t = await this.#fetchToken(st, host, all);
      if (all.length !== scopes.length) st.tokens.set(scopeKey(scopes), t);
      return t.header;
    }
    if (basic) {
      st.scheme = 'basic';
      const c = await this.#o.credentials(host);
      return c ? basicHeader(c) : undefined;
    }
    return undefined;
  }

  async #fetchToken(st: OriginState, host: string, scopes: string[]): Promise<CachedToken> {
    if (!st.realm)
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `${host} asked for a bearer token without a realm`);
    let realm: URL;
    try {
      realm = new URL(st.realm);
    } catch {
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `${host} gave an invalid token realm`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `${host} gave a token realm that is not http(s)`);
    }
    const creds = await this.#o.credentials(host);
    const headers: Record<string, string> = { 'user-agent': this.#o.userAgent };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (creds?.identityToken) {
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: creds.identityToken,
        client_id: 'brig',
      });
      if (st.service) form.set('service', st.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (st.service) realm.searchParams.set('service', st.service);
      for (const s of scopes) realm.searchParams.append('scope', s);
      if (creds) headers.authorization = basicHeader(creds);
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(realm, { method, headers, body, dispatcher: this.#o.dispatcherFor(realm) });
    } catch (e) {
      throw new BrigError(
        'ERR_REGISTRY_UNAVAILABLE',
        `cannot reach the token service of ${host} (${realm.host}): ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      throw new BrigError(
        'ERR_REGISTRY_UNAUTHORIZED',
        creds
          ? `the token service of ${host} refused the credentials`
          : `the token service of ${host} refused anonymous access`,
        { details: { registry: host, status: res.statusCode } },
      );
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      const code =
        res.statusCode === 429
          ? 'ERR_REGISTRY_TOO_MANY_REQUESTS'
          : res.statusCode >= 500
            ? 'ERR_REGISTRY_UNAVAILABLE'
            : 'ERR_REGISTRY_PROTOCOL';
      throw new BrigError(code, `the token service of ${host} answered ${res.statusCode}`, {
        details: { registry: host, status: res.statusCode },
      });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = (await res.body.json()) as typeof parsed;
    } catch {
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `the token service of ${host} did not answer JSON`);
    }
    const tok = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof tok !== 'string' || tok === '')
      throw new BrigError('ERR_REGISTRY_PROTOCOL', `the token service of ${host} answered without a token`);
    const ttl = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    const t: CachedToken = { header: `Bearer ${tok}`, expiresAt: Date.now() + Math.max(1, ttl - 10) * 1000 };
    st.tokens.set(scopeKey(scopes), t);
    return t;
  }
}

function scopeKey(scopes: string[]): string {
  return [...scopes].sort().join(' ');
}
