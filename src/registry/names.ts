/**
 * Registry host spelling and the configurable parts of reference normalisation. The grammar and
 * docker's rules are src/images/reference.ts; this adds what `registries.defaultRegistry` and
 * `registries.officialNamespace` change, for names written without a registry host.
 */
import { parseReference, type Reference } from '../images/reference.ts';

/** Canonical spelling of a registry host (docker.io aliases folded, lower case). */
export function normaliseRegistry(host: string): string {
  const h = host.toLowerCase();
  if (h === 'index.docker.io' || h === 'registry-1.docker.io' || h === 'registry.hub.docker.com')
    return 'docker.io';
  return h;
}

export interface NameOptions {
  defaultRegistry?: string;
  /** Namespace docker.io gives one-component names (`library`); '' for none. */
  officialNamespace?: string;
}

/**
 * Parses a reference as docker does, then applies the configured default registry and official
 * namespace to names that did not name a registry.
 */
export function resolveReference(input: string, opts: NameOptions = {}): Reference {
  const r = parseReference(input);
  const name = input.replace(/@.*$/, '').replace(/:[^/]*$/, '');
  const first = name.split('/')[0] ?? '';
  const hostGiven =
    name.includes('/') &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (hostGiven) return { ...r, domain: normaliseRegistry(r.domain) };
  const oneComponent = !name.includes('/');
  const bare = oneComponent && r.path.startsWith('library/') ? r.path.slice('library/'.length) : r.path;
  const domain = normaliseRegistry(opts.defaultRegistry ?? 'docker.io');
  const ns = opts.officialNamespace ?? 'library';
  const path = oneComponent && domain === 'docker.io' && ns !== '' ? `${ns}/${bare}` : bare;
  return { ...r, domain, path };
}
