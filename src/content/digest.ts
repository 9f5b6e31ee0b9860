/**
 * Digests as brig accepts them: `sha256:` followed by exactly 64 lowercase hex digits. Other
 * algorithms (sha512, ...) are refused rather than half-supported: every blob path and every
 * verification in the store assumes sha256.
 */
import { createHash } from 'node:crypto';
import { BrigError } from '../errors/errors.ts';
import type { Digest } from './store.ts';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

/** Returns `s` typed as a Digest, or throws ERR_DIGEST_INVALID naming `what`. */
export function parseDigest(s: unknown, what = 'digest'): Digest {
  if (!isDigest(s)) {
    throw new BrigError(
      'ERR_DIGEST_INVALID',
      `${what}: ${JSON.stringify(s)} is not sha256:<64 lowercase hex digits>`,
    );
  }
  return s;
}

export function digestHex(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
