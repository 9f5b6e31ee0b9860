/**
 * Registry credentials in docker's `config.json` format, so files people already have work:
 *
 *   { "auths": { "registry.example:5000": { "auth": "base64(user:password)" },
 *                "https://index.docker.io/v1/": { "auth": "..." },
 *                "ecr.example": {} },
 *     "credsStore": "pass",
 *     "credHelpers": { "ecr.example": "ecr-login" } }
 *
 * brig reads and writes ONE file (`registries.authFile`, default `<root>/auth.json`, mode 0600,
 * written atomically) and reads, after it, the `registries.extraAuthFiles` (default the daemon
 * user's `~/.docker/config.json`) without ever writing them. Keys are matched by host: a key may
 * be spelled `host`, `host:port`, `https://host/v1/`...; docker.io's aliases are folded.
 *
 * Lookup (get), file by file in that order, within a file as docker does it: the helper
 * `credHelpers[host]` if the file names one, else the `credsStore` helper, then the file's `auths`
 * entry. Helpers are docker's credential helper programs (./credential-helper.ts); an entry or a
 * helper answer with an identity token is used as the OAuth2 refresh token of a bearer challenge.
 * A helper's answer is reused for `helperCacheMs` (default 30 s) so that a pull does not start
 * one process per request; login and logout forget it.
 *
 * Login (set) stores through the helper the first file naming one for the host (brig's own file,
 * then the extra files) and then writes only an empty `auths` entry for the host into brig's own
 * file, as docker does; without a helper the secret goes into brig's own file. Logout (remove)
 * drops the host's entries from brig's own file and erases the host's keys from that helper.
 *
 * Credentials never leave this module in an error message, log line, event or API answer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BrigError, isBrigError } from '../errors/errors.ts';
import { type CommandRunner, hostRunner } from '../platform/exec.ts';
import { CredentialHelper, serverUrlOf } from './credential-helper.ts';
import { normaliseRegistry } from './names.ts';

export interface Credentials {
  username: string;
  password: string;
  /** OAuth2 refresh token (docker's `identitytoken`), used instead of the password for tokens. */
  identityToken?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [k: string]: unknown;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: unknown;
  credHelpers?: unknown;
  [k: string]: unknown;
}

/** The helper a config file names for a host: `credHelpers[host]`, else `credsStore`. */
export function helperNameFor(
  cfg: { credsStore?: unknown; credHelpers?: unknown },
  host: string,
): string | undefined {
  const want = normaliseRegistry(host);
  const ch = cfg.credHelpers;
  if (ch !== null && typeof ch === 'object' && !Array.isArray(ch)) {
    for (const [key, name] of Object.entries(ch)) {
      if (typeof name === 'string' && name !== '' && hostOfKey(key) === want) return name;
    }
  }
  if (typeof cfg.credsStore === 'string' && cfg.credsStore !== '') return cfg.credsStore;
  return undefined;
}

/** The host a config.json key designates (`https://index.docker.io/v1/` -> `docker.io`). */
export function hostOfKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z]+:\/\//i, '');
  k = k.replace(/\/.*$/, '');
  return normaliseRegistry(k);
}

function decodeEntry(e: AuthEntry): Credentials | undefined {
  let username = e.username;
  let password = e.password;
  if (typeof e.auth === 'string' && e.auth !== '') {
    const plain = Buffer.from(e.auth, 'base64').toString('utf8');
    const i = plain.indexOf(':');
    if (i < 0) return undefined;
    username = plain.slice(0, i);
    password = plain.slice(i + 1);
  }
  if (typeof username !== 'string' || typeof password !== 'string') {
    if (typeof e.identitytoken === 'string' && e.identitytoken !== '') {
      return { username: username ?? '<token>', password: '', identityToken: e.identitytoken };
    }
    return undefined;
  }
  const c: Credentials = { username, password };
  if (typeof e.identitytoken === 'string' && e.identitytoken !== '') c.identityToken = e.identitytoken;
  return c;
}

async function readConfig(path: string, mustParse: boolean): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BrigError(
      'ERR_CREDENTIALS',
      `cannot read credentials file ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as ConfigFile;
  } catch {
    // Never quote the file: it holds secrets.
    if (mustParse) throw new BrigError('ERR_CREDENTIALS', `credentials file ${path} is not valid JSON`);
    return {};
  }
}

export interface CredentialStoreOptions {
  /** Runs credential helper programs (default: the host). */
  runner?: CommandRunner;
  /** How long a helper's answer for a host is reused, in ms (default 30 000; 0: never). */
  helperCacheMs?: number;
}

interface CachedAnswer {
  until: number;
  value: Promise<Credentials | undefined>;
}

export class CredentialStore {
  readonly path: string;
  readonly #extra: string[];
  readonly #runner: CommandRunner;
  readonly #cacheMs: number;
  readonly #cache = new Map<string, CachedAnswer>();
  #lock: Promise<unknown> = Promise.resolve();

  /** `path` is read and written; `extra` files are only read, after it. */
  constructor(path: string, extra: string[] = [], opts: CredentialStoreOptions = {}) {
    this.path = path;
    this.#extra = extra;
    this.#runner = opts.runner ?? hostRunner;
    this.#cacheMs = opts.helperCacheMs ?? 30_000;
  }

  /** Credentials for a registry host, or undefined (anonymous). */
  async get(host: string): Promise<Credentials | undefined> {
    const want = normaliseRegistry(host);
    for (const [i, file] of [this.path, ...this.#extra].entries()) {
      const cfg = await readConfig(file, i === 0);
      const helper = helperNameFor(cfg, want);
      if (helper !== undefined) {
        const c = await this.#helperGet(helper, want);
        if (c) return c;
      }
      for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
        if (hostOfKey(key) !== want || entry === null || typeof entry !== 'object') continue;
        const c = decodeEntry(entry);
        if (c) return c;
      }
    }
    return undefined;
  }

  /** Hosts brig's own file holds credentials for (no secrets). */
  async hosts(): Promise<string[]> {
    const cfg = await readConfig(this.path, true);
    return Object.keys(cfg.auths ?? {}).map(hostOfKey);
  }

  /**
   * Stores credentials for a host: through the credential helper configured for it (brig's own
   * file first, then the extra files), leaving only an empty `auths` entry in brig's own file;
   * without a helper, in brig's own file.
   */
  async set(host: string, c: Credentials): Promise<void> {
    const want = normaliseRegistry(host);
    const helper = await this.#helperForWrite(want);
    this.#forget(want);
    if (helper !== undefined) await new CredentialHelper(helper, this.#runner).store(want, c);
    await this.#update((cfg) => {
      const auths = { ...(cfg.auths ?? {}) };
      for (const k of Object.keys(auths)) if (hostOfKey(k) === want) delete auths[k];
      auths[want] =
        helper !== undefined ? {} : { auth: Buffer.from(`${c.username}:${c.password}`).toString('base64') };
      return { ...cfg, auths };
    });
    this.#forget(want);
  }

  /**
   * Removes the host's entries from brig's own file and erases the host's keys from its credential
   * helper, if one is configured; returns whether there was anything to remove.
   */
  async remove(host: string): Promise<boolean> {
    const want = normaliseRegistry(host);
    let found = false;
    this.#forget(want);
    await this.#update((cfg) => {
      const auths = { ...(cfg.auths ?? {}) };
      for (const k of Object.keys(auths)) {
        if (hostOfKey(k) === want) {
          delete auths[k];
          found = true;
        }
      }
      return { ...cfg, auths };
    });
    const name = await this.#helperForWrite(want);
    if (name !== undefined) {
      const helper = new CredentialHelper(name, this.#runner);
      for (const key of await this.#helperKeys(helper, want)) {
        if (await helper.erase(want, key)) found = true;
      }
    }
    this.#forget(want);
    return found;
  }

  /** The helper login and logout use for a host: the first file that names one. */
  async #helperForWrite(host: string): Promise<string | undefined> {
    for (const [i, file] of [this.path, ...this.#extra].entries()) {
      const name = helperNameFor(await readConfig(file, i === 0), host);
      if (name !== undefined) return name;
    }
    return undefined;
  }

  /** The keys a helper holds for a host: docker's spelling, and any other that `list` shows. */
  async #helperKeys(helper: CredentialHelper, host: string): Promise<string[]> {
    const keys = new Set<string>();
    if (await helper.get(host)) keys.add(serverUrlOf(host));
    for (const k of Object.keys(await this.#list(helper))) if (hostOfKey(k) === host) keys.add(k);
    return [...keys];
  }

  /** `list`, or nothing when the helper cannot list (not every helper implements it). */
  async #list(helper: CredentialHelper): Promise<Record<string, string>> {
    try {
      return await helper.list();
    } catch (e) {
      if (isBrigError(e, 'ERR_CREDENTIAL_HELPER')) return {};
      throw e;
    }
  }

  #helperGet(name: string, host: string): Promise<Credentials | undefined> {
    const key = `${name}\0${host}`;
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit && hit.until > now) return hit.value;
    const helper = new CredentialHelper(name, this.#runner);
    const value = (async () => {
      const c = await helper.get(host);
      if (c) return c;
      // stored under another spelling (`https://host`, podman's `docker.io`): find it with list
      for (const k of Object.keys(await this.#list(helper))) {
        if (k !== serverUrlOf(host) && hostOfKey(k) === host) {
          const other = await helper.get(host, k);
          if (other) return other;
        }
      }
      return undefined;
    })();
    if (this.#cacheMs > 0) {
      const entry = { until: now + this.#cacheMs, value };
      this.#cache.set(key, entry);
      value.catch(() => {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
      });
    }
    return value;
  }

  #forget(host: string): void {
    for (const k of [...this.#cache.keys()]) if (k.endsWith(`\0${host}`)) this.#cache.delete(k);
  }

  #update(fn: (cfg: ConfigFile) => ConfigFile): Promise<void> {
    const run = async () => {
      const cfg = await readConfig(this.path, true);
      const next = fn(cfg);
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        const fh = await open(tmp, 'wx', 0o600);
        try {
          await fh.writeFile(`${JSON.stringify(next, null, 2)}\n`);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, this.path);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw new BrigError(
          'ERR_CREDENTIALS',
          `cannot write credentials file ${this.path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
        );
      }
    };
    const p = this.#lock.then(run, run);
    this.#lock = p.catch(() => {});
    return p;
  }
}
