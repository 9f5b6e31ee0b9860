/**
 * Registry credentials in docker's `config.json` format, so files people already have work:
 *
 *   { "auths": { "registry.example:5000": { "auth": "base64(user:password)" },
 *                "https://index.docker.io/v1/": { "auth": "..." } } }
 *
 * brig reads and writes ONE file (`registries.authFile`, default `<root>/auth.json`, mode 0600,
 * written atomically) and reads, after it, the `registries.extraAuthFiles` (default the daemon
 * user's `~/.docker/config.json`) without ever writing them. Keys are matched by host: a key may
 * be spelled `host`, `host:port`, `https://host/v1/`...; docker.io's aliases are folded.
 * `credsStore` / `credHelpers` (external helper programs) are not supported; entries with an
 * `identitytoken` are used as the OAuth2 refresh token of a bearer challenge.
 *
 * Credentials never leave this module in an error message, log line, event or API answer.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BrigError } from '../errors/errors.ts';
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
  [k: string]: unknown;
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

export class CredentialStore {
  readonly path: string;
  readonly #extra: string[];
  #lock: Promise<unknown> = Promise.resolve();

  /** `path` is read and written; `extra` files are only read, after it. */
  constructor(path: string, extra: string[] = []) {
    this.path = path;
    this.#extra = extra;
  }

  /** Credentials for a registry host, or undefined (anonymous). */
  async get(host: string): Promise<Credentials | undefined> {
    const want = normaliseRegistry(host);
    for (const [i, file] of [this.path, ...this.#extra].entries()) {
      const cfg = await readConfig(file, i === 0);
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

  async set(host: string, c: Credentials): Promise<void> {
    await this.#update((cfg) => {
      const auths = { ...(cfg.auths ?? {}) };
      for (const k of Object.keys(auths)) if (hostOfKey(k) === normaliseRegistry(host)) delete auths[k];
      auths[normaliseRegistry(host)] = {
        auth: Buffer.from(`${c.username}:${c.password}`).toString('base64'),
      };
      return { ...cfg, auths };
    });
  }

  /** Removes the host's entry; returns whether there was one. */
  async remove(host: string): Promise<boolean> {
    let found = false;
    await this.#update((cfg) => {
      const auths = { ...(cfg.auths ?? {}) };
      for (const k of Object.keys(auths)) {
        if (hostOfKey(k) === normaliseRegistry(host)) {
          delete auths[k];
          found = true;
        }
      }
      return { ...cfg, auths };
    });
    return found;
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
