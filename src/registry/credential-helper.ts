/**
 * Docker credential helpers: the programs `docker-credential-NAME` that docker's config.json
 * names in `credsStore` (every registry) or `credHelpers` (one registry each), e.g. `pass`,
 * `secretservice`, `ecr-login`, `gcloud`.
 *
 * Protocol (docker/docker-credential-helpers), one action per process, as its first argument:
 *   get    stdin: the server URL          stdout: {"ServerURL","Username","Secret"}
 *   store  stdin: {"ServerURL","Username","Secret"}
 *   erase  stdin: the server URL
 *   list   stdout: {"<server URL>": "<username>", ...}
 * A failing helper exits non-zero and prints its error on stdout; "credentials not found in
 * native keychain" means there is nothing for that URL (older helpers, e.g. Debian's pass
 * helper 0.6, instead answer `get` with an empty Username and Secret). A Username of `<token>`
 * means the Secret is an identity token (OAuth2 refresh token), not a password.
 *
 * The server URL docker uses as the key is the registry host (`reg.example:5000`), except for
 * Docker Hub: `https://index.docker.io/v1/` (serverUrlOf).
 *
 * Contract: programs run only through the CommandRunner, with an argument array; the secret goes
 * to the helper on stdin only; errors are ERR_CREDENTIAL_HELPER(_NOT_FOUND) naming the helper,
 * the action, the host and what the helper printed, with the secret cut out; what `get` prints on
 * success is never put into an error, log or event.
 */
import { BrigError, isBrigError } from '../errors/errors.ts';
import type { CommandRunner } from '../platform/exec.ts';
import type { Credentials } from './credentials.ts';

export type HelperAction = 'get' | 'store' | 'erase' | 'list';

/** The Username docker's helpers use for an identity token. */
export const TOKEN_USERNAME = '<token>';

const NOT_FOUND = 'credentials not found in native keychain';

/** A helper name (`pass`) is the tail of a program name: no path separators, no options. */
export function validHelperName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) && name.length <= 64;
}

/** The key docker's helpers store a registry under (`docker.io` -> `https://index.docker.io/v1/`). */
export function serverUrlOf(host: string): string {
  return host === 'docker.io' ? 'https://index.docker.io/v1/' : host;
}

/** The credentials a helper answered to `get`, or undefined when it has none. */
export function parseGetOutput(stdout: string): Credentials | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const o = parsed as { Username?: unknown; Secret?: unknown };
  const username = typeof o.Username === 'string' ? o.Username : '';
  const secret = typeof o.Secret === 'string' ? o.Secret : '';
  if (secret === '') return undefined;
  if (username === TOKEN_USERNAME) return { username, password: '', identityToken: secret };
  if (username === '') return undefined;
  return { username, password: secret };
}

/** What `store` is given for credentials (an identity token travels as `<token>`). */
export function storeInput(serverUrl: string, c: Credentials): string {
  const token = c.identityToken !== undefined && c.identityToken !== '' && c.password === '';
  return JSON.stringify({
    ServerURL: serverUrl,
    Username: token ? TOKEN_USERNAME : c.username,
    Secret: token ? c.identityToken : c.password,
  });
}

/** `list`'s answer: server URL -> username. Anything else is an empty map. */
export function parseListOutput(stdout: string): Record<string, string> {
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
    return out;
  } catch {
    return {};
  }
}

export function isNotFoundMessage(text: string): boolean {
  return text.trim().toLowerCase().includes(NOT_FOUND);
}

/** What a failing helper printed, shortened, on one line, with every secret cut out. */
export function helperMessage(text: string, secrets: readonly string[]): string {
  let s = text;
  for (const secret of secrets) {
    if (secret.length < 1) continue;
    for (const form of [secret, JSON.stringify(secret).slice(1, -1), Buffer.from(secret).toString('base64')])
      s = s.split(form).join('***');
  }
  s = s.replace(/\s+/g, ' ').trim();
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** How long one helper call may take by default (milliseconds). */
export const HELPER_TIMEOUT_MS = 60_000;

/** One helper program, `docker-credential-NAME`. */
export class CredentialHelper {
  readonly name: string;
  readonly program: string;
  readonly #runner: CommandRunner;
  readonly #timeoutMs: number;

  /**
   * `timeoutMs`: how long one helper call may take before it is killed (default 60 s). brigd has
   * no terminal: a helper that waits for a passphrase or a keyring unlock would otherwise hold
   * the pull or push that needs it forever.
   */
  constructor(name: string, runner: CommandRunner, opts: { timeoutMs?: number } = {}) {
    if (!validHelperName(name)) {
      throw new BrigError('ERR_CREDENTIALS', `"${name}" is not a credential helper name`, {
        hint: 'credsStore and credHelpers name a program docker-credential-NAME; NAME has no "/" or spaces.',
      });
    }
    this.name = name;
    this.program = `docker-credential-${name}`;
    this.#runner = runner;
    this.#timeoutMs = opts.timeoutMs ?? HELPER_TIMEOUT_MS;
  }

  /** Credentials stored under `serverUrl`, or undefined. */
  async get(host: string, serverUrl = serverUrlOf(host)): Promise<Credentials | undefined> {
    const r = await this.#run('get', host, serverUrl, []);
    if (r.notFound) return undefined;
    const c = parseGetOutput(r.stdout);
    if (c) return c;
    // exit 0 with an empty answer is "none" (older helpers); anything else is a broken helper
    try {
      const o = JSON.parse(r.stdout) as unknown;
      if (o !== null && typeof o === 'object' && !Array.isArray(o)) return undefined;
    } catch {}
    // never quote the output: it may hold a secret
    throw new BrigError(
      'ERR_CREDENTIAL_HELPER',
      `${this.program} get for ${host} did not answer the credential JSON`,
      { details: { helper: this.program, action: 'get', registry: host } },
    );
  }

  async store(host: string, c: Credentials, serverUrl = serverUrlOf(host)): Promise<void> {
    await this.#run('store', host, storeInput(serverUrl, c), [c.password, c.identityToken ?? '']);
  }

  /** Erases what is stored under `serverUrl`; false when the helper had nothing. */
  async erase(host: string, serverUrl = serverUrlOf(host)): Promise<boolean> {
    const r = await this.#run('erase', host, serverUrl, []);
    return !r.notFound;
  }

  async list(): Promise<Record<string, string>> {
    const r = await this.#run('list', '', undefined, []);
    return r.notFound ? {} : parseListOutput(r.stdout);
  }

  async #run(
    action: HelperAction,
    host: string,
    input: string | undefined,
    secrets: string[],
  ): Promise<{ stdout: string; notFound: boolean }> {
    const what = host ? `${action} for ${host}` : action;
    const details = { helper: this.program, action, ...(host ? { registry: host } : {}) };
    let r: Awaited<ReturnType<CommandRunner['run']>>;
    try {
      r = await this.#runner.run(this.program, [action], {
        check: false,
        timeoutMs: this.#timeoutMs,
        ...(input ? { input } : {}),
      });
    } catch (e) {
      if (isBrigError(e, 'ERR_COMMAND_NOT_FOUND')) {
        throw new BrigError(
          'ERR_CREDENTIAL_HELPER_NOT_FOUND',
          `credential helper ${this.program} (${what}) is not installed or not on brigd's PATH`,
          {
            details,
            hint: `Install ${this.program} where brigd finds it, or remove "${this.name}" from credsStore/credHelpers.`,
          },
        );
      }
      throw new BrigError('ERR_CREDENTIAL_HELPER', `cannot run credential helper ${this.program} (${what})`, {
        details,
      });
    }
    if (r.timedOut) {
      throw new BrigError(
        'ERR_CREDENTIAL_HELPER',
        `${this.program} ${what} did not answer within ${this.#timeoutMs / 1000} s and was stopped`,
        {
          details: { ...details, timeoutMs: this.#timeoutMs },
          hint: 'The helper may be waiting for a passphrase or a locked keyring that brigd cannot answer: unlock it for the user brigd runs as, or store the credentials with `brig login` without a helper.',
        },
      );
    }
    const stdout = r.stdout.toString('utf8');
    if (r.code === 0 && !r.signal) return { stdout, notFound: false };
    const printed = stdout.trim() || r.stderr.toString('utf8').trim();
    if (isNotFoundMessage(printed)) return { stdout: '', notFound: true };
    const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code}`;
    // `get` printed credential JSON and then failed: brig does not know that secret, so the
    // output is not quoted (store's input secrets are cut out by helperMessage)
    const withhold = action === 'get' && /"Secret"/i.test(printed);
    const msg = withhold ? '(output withheld: it holds credentials)' : helperMessage(printed, secrets);
    throw new BrigError('ERR_CREDENTIAL_HELPER', `${this.program} ${what} ${how}${msg ? `: ${msg}` : ''}`, {
      details: { ...details, status: r.code },
    });
  }
}
