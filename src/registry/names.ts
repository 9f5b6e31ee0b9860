/**
 * Registry host spelling and the configurable parts of reference normalisation. The grammar and
 * docker's rules are src/images/reference.ts; this adds what `registries.defaultRegistry` and
 * `registries.officialNamespace` change, for names written without a registry host.
 *
 * brigd builds one resolver from its configuration (`referenceResolver`) and uses it wherever a
 * name someone wrote becomes a canonical one: pull and push, and every image argument of the
 * image service (lookups, tag, rm, import --name/--ref, export, run/create). With the defaults
 * (docker.io, library) it gives what docker gives, apart from folding the docker.io aliases and
 * the case of a host.
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
 * Parses a reference as docker does, then applies the configured default registry to names that
 * did not name a registry, and the official namespace to one-component names on docker.io
 * (`busybox`, `docker.io/busybox`).
 */
export function resolveReference(input: string, opts: NameOptions = {}): Reference {
  const r = parseReference(input);
  const name = input.replace(/@.*$/, '').replace(/:[^/]*$/, '');
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  // docker's host rule, as parseReference applies it
  const hostGiven =
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  // the path as written (parseReference has checked it), without the library/ it may have added
  const written = hostGiven ? name.slice(slash + 1) : name;
  const domain = normaliseRegistry(hostGiven ? r.domain : (opts.defaultRegistry ?? 'docker.io'));
  const ns = opts.officialNamespace ?? 'library';
  const path = !written.includes('/') && domain === 'docker.io' && ns !== '' ? `${ns}/${written}` : written;
  return { ...r, domain, path };
}

/** `resolveReference` bound to one configuration: the name resolver brigd hands to its services. */
export function referenceResolver(opts: NameOptions = {}): (input: string) => Reference {
  const o: NameOptions = {};
  if (opts.defaultRegistry !== undefined) o.defaultRegistry = opts.defaultRegistry;
  if (opts.officialNamespace !== undefined) o.officialNamespace = opts.officialNamespace;
  return (input) => resolveReference(input, o);
}
