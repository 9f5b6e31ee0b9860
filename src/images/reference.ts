/**
 * Image references, with Docker's grammar and normalisation rules (distribution/reference). Pure.
 *
 *   reference      := name [ ":" tag ] [ "@" digest ]
 *   name           := [ domain "/" ] path-component { "/" path-component }
 *   domain         := host [ ":" port ]          host: DNS name, IPv4, or [IPv6]
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag            := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest         := "sha256:" 64 lowercase hex digits   (brig stores only sha256)
 *
 * Normalisation (what `busybox` means):
 *   - the first component is a domain only if it contains "." or ":" or is "localhost"
 *     (otherwise `docker.io` is assumed); `index.docker.io` is written `docker.io`;
 *   - on docker.io, a single-component path gets `library/` (busybox → library/busybox);
 *   - without tag and digest, the tag is `latest` (a digest alone adds no tag).
 *   - the whole name is at most 255 characters; the path must be lower case;
 *   - a bare 64-hex-digit name is refused (it would be ambiguous with an image id).
 *
 * The canonical form is what the image store records as an image's name:
 *   busybox              → docker.io/library/busybox:latest
 *   example.org:5000/a/b → example.org:5000/a/b:latest
 *   app@sha256:…         → docker.io/library/app@sha256:…
 */
import { isDigest } from '../content/digest.ts';
import type { Digest } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host[:port], e.g. "docker.io", "localhost:5000", "[::1]:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: Digest;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const NAME_MAX = 255;

function invalid(s: string, why: string): never {
  throw new BrigError('ERR_REFERENCE_INVALID', `invalid reference "${s}": ${why}`, {
    details: { reference: s, problem: why },
  });
}

function validDomain(d: string): boolean {
  let host = d;
  let port: string | undefined;
  if (d.startsWith('[')) {
    const end = d.indexOf(']');
    if (end < 0) return false;
    const v6 = d.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(v6) || !v6.includes(':')) return false;
    const rest = d.slice(end + 1);
    if (rest === '') return true;
    if (!rest.startsWith(':')) return false;
    port = rest.slice(1);
    host = '';
  } else {
    const i = d.lastIndexOf(':');
    if (i >= 0) {
      host = d.slice(0, i);
      port = d.slice(i + 1);
    }
  }
  if (port !== undefined && !/^\d+$/.test(port)) return false;
  if (host === '' && !d.startsWith('[')) return false;
  return host === '' || host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/**
 * Parses and normalises a reference; throws ERR_REFERENCE_INVALID saying what is wrong.
 */
export function parseReference(input: string): Reference {
  const s = input.trim() === input ? input : invalid(input, 'leading or trailing white space');
  if (s === '') invalid(s, 'empty');
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) invalid(s, `"${d}" is not a sha256 digest (sha256:<64 lowercase hex digits>)`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) invalid(s, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest === '') invalid(s, 'no repository name');
  if (rest.length > NAME_MAX) invalid(s, `the name is longer than ${NAME_MAX} characters`);
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first !== first.toLowerCase()
    ) {
      if (!validDomain(first)) invalid(s, `"${first}" is not a registry host[:port]`);
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path !== path.toLowerCase()) invalid(s, 'the repository name must be lower case');
  for (const c of path.split('/')) {
    if (!PATH_COMPONENT.test(c)) {
      invalid(
        s,
        `"${c}" is not a valid path component (lower-case letters and digits, separated by . _ __ or -)`,
      );
    }
  }
  if (/^[a-f0-9]{64}$/.test(path) && domain === DEFAULT_DOMAIN && slash < 0) {
    invalid(s, 'a 64-hex-digit name cannot be told from an image id');
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const r: Reference = { domain, path };
  if (tag !== undefined) r.tag = tag;
  if (digest !== undefined) r.digest = digest;
  return r;
}

/** The canonical string of a reference (domain, path, tag and/or digest). */
export function formatReference(r: Reference): string {
  return `${r.domain}/${r.path}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** Parses and returns the canonical string: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}

/** The repository as Docker shows it: docker.io/library/busybox → busybox. */
export function familiarRepository(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return `${r.domain}/${r.path}`;
  return r.path.startsWith(OFFICIAL_REPO_PREFIX) ? r.path.slice(OFFICIAL_REPO_PREFIX.length) : r.path;
}

/** Docker's short form of a canonical reference: docker.io/library/busybox:latest → busybox:latest. */
export function familiarString(r: Reference): string {
  return `${familiarRepository(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** The repository name without tag/digest, canonical: docker.io/library/busybox. */
export function repositoryName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** True when the string parses as a reference. */
export function isReference(input: string): boolean {
  try {
    parseReference(input);
    return true;
  } catch {
    return false;
  }
}
