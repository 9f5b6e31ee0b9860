/**
 * The registry service: pull, push, login and logout against OCI distribution registries.
 *
 * Vocabulary:
 *   - reference: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`, normalised by src/images/reference.ts and ./names.ts;
 *   - endpoint: a URL serving a registry (the registry itself, or a mirror for pulls), with its
 *     TLS settings (./config.ts);
 *   - transport: agents, auth, retries and error translation (./transport.ts);
 *   - repository client: the distribution-spec calls on one repository (./repository.ts).
 *
 * Contract:
 *   - `pull()` leaves the manifest (and index), the config and every layer in the content store,
 *     all verified, under the caller's lease; it does not record the image (the caller does, with
 *     the result); with `opts.unpack` it also unpacks the layers into that snapshotter as
 *     they arrive (./pull.ts), and a failed pull removes the snapshots it made.
 *   - `push()` reads only from the content store and never changes it.
 *   - `login()` checks the credentials with `GET /v2/` before storing them; nothing is stored if
 *     the registry refuses them. They are stored through the docker credential helper configured
 *     for the host, else in brig's own file; `logout()` removes them from brig's own file and
 *     erases them from that helper (./credentials.ts), never from other files.
 *   - Errors are BrigError with ERR_REGISTRY_* (or content/image codes for bad content); messages,
 *     details and progress never contain credentials or tokens.
 *   - Plain HTTP and unverified TLS only for hosts the configuration names (./config.ts).
 */
import type { ContentStore, Descriptor } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';
import type { Reference as ImageReference } from '../images/reference.ts';
import type { RegistryHosts } from './config.ts';
import type { CredentialStore, Credentials } from './credentials.ts';
import { normaliseRegistry, referenceResolver } from './names.ts';
import { type PullOptions, type PullResult, pull } from './pull.ts';
import { type PushOptions, type PushResult, push } from './push.ts';
import { RepositoryClient } from './repository.ts';
import { RegistryTransport, type RetryPolicy } from './transport.ts';

export type { PullOptions, PullResult, PushOptions, PushResult };

export interface RegistryOptions {
  hosts: RegistryHosts;
  credentials: CredentialStore;
  content: ContentStore;
  retry?: Partial<RetryPolicy>;
  userAgent?: string;
  /** Diagnostic lines (no credentials). */
  log?: (line: string) => void;
}

/** `https://host:port/v2/` or `host:port` -> `host:port`, docker.io aliases folded. */
export function normaliseLoginHost(input: string): string {
  const h = input
    .trim()
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(h) || h === '') {
    throw new BrigError('ERR_INVALID_ARGUMENT', `"${input}" is not a registry host`, {
      hint: 'Give HOST[:PORT], e.g. registry.example.org:5000.',
    });
  }
  return normaliseRegistry(h);
}

export class Registry {
  readonly transport: RegistryTransport;
  readonly #o: RegistryOptions;
  readonly #parse: (ref: string) => ImageReference;

  constructor(o: RegistryOptions) {
    this.#o = o;
    this.#parse = referenceResolver(o.hosts.config);
    this.transport = new RegistryTransport({
      hosts: o.hosts,
      credentials: o.credentials,
      ...(o.retry ? { retry: o.retry } : {}),
      ...(o.userAgent ? { userAgent: o.userAgent } : {}),
      ...(o.log ? { log: o.log } : {}),
    });
  }

  /** Parses a reference with the configured default registry and official namespace. */
  parse(ref: string): ImageReference {
    return this.#parse(ref);
  }

  pull(ref: string | ImageReference, opts: PullOptions): Promise<PullResult> {
    const r = typeof ref === 'string' ? this.parse(ref) : ref;
    return pull(this.transport, this.#o.content, r, {
      concurrency: this.#o.hosts.config.maxConcurrentDownloads,
      ...opts,
    });
  }

  push(ref: string | ImageReference, target: Descriptor, opts: PushOptions = {}): Promise<PushResult> {
    const r = typeof ref === 'string' ? this.parse(ref) : ref;
    return push(this.transport, this.#o.content, r, target, {
      concurrency: this.#o.hosts.config.maxConcurrentUploads,
      chunkSize: this.#o.hosts.config.uploadChunkSize,
      ...opts,
    });
  }

  /** Checks `creds` against the registry, then stores them. Returns the normalised host. */
  async login(host: string, creds: Credentials): Promise<string> {
    const h = normaliseLoginHost(host);
    if (creds.username === '' || creds.password === '') {
      throw new BrigError('ERR_INVALID_ARGUMENT', 'login needs a username and a password');
    }
    const probe = new RegistryTransport({
      hosts: this.#o.hosts,
      credentials: { get: async () => creds },
      retry: { ...this.transport.retry, attempts: 2 },
      userAgent: this.transport.userAgent,
    });
    try {
      const [ep] = this.#o.hosts.endpoints(h, 'push');
      await new RepositoryClient(probe, ep!, '', false).ping();
    } finally {
      await probe.close();
    }
    await this.#o.credentials.set(h, creds);
    return h;
  }

  async logout(host: string): Promise<boolean> {
    return this.#o.credentials.remove(normaliseLoginHost(host));
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
