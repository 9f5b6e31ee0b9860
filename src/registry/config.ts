/**
 * Registry configuration (the `registries` key of brigd's configuration) and its resolution into
 * the endpoints brig talks to for one registry host.
 *
 *   registries:
 *     defaultRegistry: docker.io          # registry of names without a host
 *     officialNamespace: library          # docker.io/NAME -> docker.io/library/NAME ('' disables)
 *     insecure: ["localhost:5000"]        # hosts allowed over plain HTTP (and unverified TLS)
 *     mirrors: { docker.io: ["https://mirror.example"] }   # tried in order for pulls only
 *     tlsVerify: { "reg.example:8443": false }             # per host; default true
 *     certsDir: /etc/brig/certs.d         # default: certs.d beside the configuration file
 *     authFile: /var/lib/brig/auth.json   # default: <root>/auth.json (brig login writes here)
 *     extraAuthFiles: ["~/.docker/config.json"]  # read-only credential sources, in order
 *     maxConcurrentDownloads: 3
 *     maxConcurrentUploads: 3
 *     uploadChunkSize: 0                  # bytes; 0 = one monolithic PUT per blob
 *
 * certs.d follows docker's and podman's layout: `certs.d/HOST[:PORT]/*.crt` are extra CA
 * certificates for that host (added to the system roots, not replacing them), and
 * `client.cert` + `client.key` a client certificate.
 *
 * Security rule: plain HTTP is used only for hosts listed in `insecure`; TLS verification is on
 * unless the host is listed in `insecure` or `tlsVerify` says false for it. Nothing on the command
 * line can lower either.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as v from 'valibot';
import { BrigError } from '../errors/errors.ts';
import { isReference } from '../images/reference.ts';
import { normaliseRegistry } from './names.ts';

/**
 * docker's rule tells a host from a path by "." or ":" or `localhost`; a default registry without
 * them would make the canonical name `HOST/app` read back as the path `HOST/app` on itself.
 */
function isRegistryHost(h: string): boolean {
  const l = h.toLowerCase();
  return (
    (l.includes('.') || l.includes(':') || l === 'localhost') && !l.includes('/') && isReference(`${l}/x`)
  );
}

const hostList = v.array(v.pipe(v.string(), v.minLength(1)));

export const registriesSchema = v.optional(
  v.strictObject({
    defaultRegistry: v.optional(
      v.pipe(
        v.string(),
        v.check(
          isRegistryHost,
          'a registry host[:port] with "." or ":" in it, or localhost (canonical names start with it)',
        ),
      ),
      'docker.io',
    ),
    officialNamespace: v.optional(
      v.pipe(
        v.string(),
        v.check(
          (ns) => ns === '' || isReference(`docker.io/${ns}/x`),
          "'' or a repository path such as library",
        ),
      ),
      'library',
    ),
    insecure: v.optional(hostList, []),
    mirrors: v.optional(v.record(v.string(), v.array(v.pipe(v.string(), v.url()))), {}),
    tlsVerify: v.optional(v.record(v.string(), v.boolean()), {}),
    certsDir: v.optional(v.string()),
    authFile: v.optional(v.string()),
    extraAuthFiles: v.optional(v.array(v.string()), ['~/.docker/config.json']),
    maxConcurrentDownloads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32)), 3),
    maxConcurrentUploads: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32)), 3),
    uploadChunkSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  }),
  {},
);

export type RegistriesConfig = v.InferOutput<typeof registriesSchema>;

/** Defaults, as the schema fills them for an absent key. */
export const registriesDefaults: RegistriesConfig = v.parse(registriesSchema, undefined);

/** One place brig can talk to for a registry host. */
export interface Endpoint {
  /** Registry host the endpoint serves (`docker.io`), used for credentials of the upstream. */
  registry: string;
  /** Host (and port) of the URL actually contacted: the mirror's own host for a mirror. */
  host: string;
  /** `https://host[:port][/prefix]` without a trailing slash. */
  base: string;
  mirror: boolean;
  /** Plain HTTP is allowed (host listed in `insecure`): HTTPS is tried first, then HTTP. */
  allowHttp: boolean;
  tls: TlsSettings;
}

export interface TlsSettings {
  rejectUnauthorized: boolean;
  /** Extra CA certificates (PEM) from certs.d; undefined = the system roots only. */
  ca?: string[];
  cert?: string;
  key?: string;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

export interface ResolvedRegistries {
  config: RegistriesConfig;
  authFile: string;
  extraAuthFiles: string[];
  certsDir: string;
}

/** Fills the paths that depend on where brigd keeps its state and configuration. */
export function resolveRegistries(
  config: RegistriesConfig,
  where: { root: string; configFile: string },
): ResolvedRegistries {
  const configDir = where.configFile.replace(/\/[^/]*$/, '') || '/';
  return {
    config,
    authFile: expandHome(config.authFile ?? join(where.root, 'auth.json')),
    extraAuthFiles: config.extraAuthFiles.map(expandHome),
    certsDir: expandHome(config.certsDir ?? join(configDir, 'certs.d')),
  };
}

/** Endpoint lookup for registry hosts; certs.d is read once per host and cached. */
export class RegistryHosts {
  readonly #r: ResolvedRegistries;
  readonly #insecure: Set<string>;
  readonly #tls = new Map<string, TlsSettings>();

  constructor(resolved: ResolvedRegistries) {
    this.#r = resolved;
    this.#insecure = new Set(resolved.config.insecure.map((h) => normaliseRegistry(h)));
  }

  get config(): RegistriesConfig {
    return this.#r.config;
  }

  get resolved(): ResolvedRegistries {
    return this.#r;
  }

  isInsecure(host: string): boolean {
    return this.#insecure.has(normaliseRegistry(host));
  }

  /** Endpoints for `registry`, in the order they are tried: mirrors (pull only), then the registry. */
  endpoints(registry: string, purpose: 'pull' | 'push'): Endpoint[] {
    const reg = normaliseRegistry(registry);
    const out: Endpoint[] = [];
    if (purpose === 'pull') {
      for (const m of this.#r.config.mirrors[reg] ?? []) {
        const u = new URL(m);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') {
          throw new BrigError('ERR_CONFIG_INVALID', `registries.mirrors.${reg}: ${m} is not an http(s) URL`);
        }
        if (u.protocol === 'http:' && !this.isInsecure(u.host)) {
          throw new BrigError(
            'ERR_CONFIG_INVALID',
            `registries.mirrors.${reg}: ${m} uses plain HTTP but ${u.host} is not in registries.insecure`,
          );
        }
        const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
        out.push({
          registry: reg,
          host: u.host,
          base,
          mirror: true,
          // an http:// mirror was checked to be listed in `insecure` above
          allowHttp: u.protocol === 'http:',
          tls: this.tls(u.host),
        });
      }
    }
    const host = reg === 'docker.io' ? 'registry-1.docker.io' : reg;
    out.push({
      registry: reg,
      host,
      base: `https://${host}`,
      mirror: false,
      allowHttp: this.isInsecure(reg),
      tls: this.tls(reg),
    });
    return out;
  }

  /** TLS settings for a host: certs.d CAs and client certificate, verification per configuration. */
  tls(host: string): TlsSettings {
    const h = normaliseRegistry(host);
    const cached = this.#tls.get(h);
    if (cached) return cached;
    const verifyCfg = this.#r.config.tlsVerify[h] ?? this.#r.config.tlsVerify[host];
    const settings: TlsSettings = { rejectUnauthorized: !this.isInsecure(h) && verifyCfg !== false };
    const dir = join(this.#r.certsDir, h);
    let names: string[] = [];
    try {
      names = readdirSync(dir).sort();
    } catch {}
    const ca = names.filter((n) => n.endsWith('.crt')).map((n) => readFileSync(join(dir, n), 'utf8'));
    if (ca.length > 0) settings.ca = ca;
    const cert = names.find((n) => n.endsWith('.cert'));
    if (cert) {
      const key = cert.replace(/\.cert$/, '.key');
      if (!names.includes(key)) {
        throw new BrigError('ERR_CONFIG_INVALID', `${join(dir, cert)} has no matching ${key}`);
      }
      settings.cert = readFileSync(join(dir, cert), 'utf8');
      settings.key = readFileSync(join(dir, key), 'utf8');
    }
    this.#tls.set(h, settings);
    return settings;
  }
}
