/**
 * Platforms (os/architecture/variant) and the choice of a manifest from an index. Pure.
 *
 * Normalisation follows the conventions of containerd's platforms package:
 *   - x86_64, x86-64, amd64 → amd64 (variant v1 is the baseline and is dropped)
 *   - i386, 386 → 386
 *   - aarch64, arm64 → arm64; variants 8, v8, v8.0 → v8 (the default when none is given)
 *   - armhf → arm/v7, armel → arm/v6, arm without variant → arm/v7; 5, 6, 7, 8 → v5…v8
 *   - os is lower-cased; macos → darwin
 * Matching: os and architecture must be equal after normalisation; the variant must be the wanted
 * one or an older, compatible one (arm/v7 runs v6 and v5 code; arm64/v8.2 runs v8; amd64/v3
 * runs v2 and v1). The best match is the exact variant, then the newest compatible one; an entry
 * with no platform at all is taken only when no entry with a platform matches.
 */
import type { Descriptor } from '../content/store.ts';
import { BrigError } from '../errors/errors.ts';
import { isIndexMediaType, isManifestMediaType, type Platform } from './oci.ts';

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export function normalizeArch(arch: string, variant?: string): { architecture: string; variant?: string } {
  const a = arch.toLowerCase();
  let v = variant?.toLowerCase() || undefined;
  switch (a) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return v === undefined || v === 'v1'
        ? { architecture: 'amd64' }
        : { architecture: 'amd64', variant: v };
    case 'i386':
    case '386':
      return { architecture: '386' };
    case 'aarch64':
    case 'arm64':
      if (v === undefined || v === '8' || v === 'v8' || v === 'v8.0')
        return { architecture: 'arm64', variant: 'v8' };
      if (/^\d+(\.\d+)?$/.test(v)) v = `v${v}`;
      return { architecture: 'arm64', variant: v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === undefined) return { architecture: 'arm', variant: 'v7' };
      if (/^\d+$/.test(v)) v = `v${v}`;
      return { architecture: 'arm', variant: v };
    default:
      return v === undefined ? { architecture: a } : { architecture: a, variant: v };
  }
}

export function normalizePlatform(p: PlatformSpec | Platform): PlatformSpec {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  return { os, ...normalizeArch(p.architecture, p.variant) };
}

export function formatPlatform(p: PlatformSpec): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Parses "os/arch[/variant]" (what --platform takes). */
export function parsePlatform(s: string): PlatformSpec {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '' || !/^[A-Za-z0-9._-]+$/.test(x))) {
    throw new BrigError('ERR_INVALID_ARGUMENT', `platform "${s}" is not OS/ARCH[/VARIANT]`, {
      hint: 'For example linux/amd64, freebsd/arm64 or linux/arm/v7.',
    });
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

/** The platform of this process, from the host OS (the caller knows it) and Node's process.arch. */
export function platformOf(os: string, nodeArch: string): PlatformSpec {
  const arch: Record<string, string> = {
    x64: 'amd64',
    ia32: '386',
    arm64: 'arm64',
    arm: 'arm',
    ppc64: 'ppc64le',
  };
  return normalizePlatform({ os, architecture: arch[nodeArch] ?? nodeArch });
}

function variantRank(v: string | undefined): number[] {
  if (v === undefined) return [0];
  const m = /^v(\d+)(?:\.(\d+))?$/.exec(v);
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : [];
}

function cmpRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Whether an image built for `have` runs on `want`; returns a score (higher is better) or -1.
 * Exact variant scores highest; an older compatible variant scores by closeness.
 */
export function matchScore(want: PlatformSpec, have: PlatformSpec | Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return -1;
  if (w.variant === h.variant) return 1000;
  const wr = variantRank(w.variant);
  const hr = variantRank(h.variant);
  if (wr.length === 0 || hr.length === 0) return -1; // unknown variant words match only exactly
  if (cmpRank(hr, wr) > 0) return -1; // a newer variant than the host has
  return 500 + hr[0]! * 10 + (hr[1] ?? 0);
}

/**
 * Picks the manifest (or nested index) for `want` from an index's entries. Entries whose media
 * type is neither a manifest nor an index (attestations, artifacts) are never picked.
 */
export function selectPlatform(manifests: readonly Descriptor[], want: PlatformSpec): Descriptor | undefined {
  let best: Descriptor | undefined;
  let bestScore = -1;
  let unplatformed: Descriptor | undefined;
  for (const d of manifests) {
    if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) continue;
    if (!d.platform) {
      unplatformed ??= d;
      continue;
    }
    const s = matchScore(want, d.platform);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  return best ?? unplatformed;
}
