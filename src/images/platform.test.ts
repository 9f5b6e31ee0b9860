import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Descriptor } from '../content/store.ts';
import { isBrigError } from '../errors/errors.ts';
import { MEDIA_TYPES } from './oci.ts';
import { matchScore, normalizePlatform, parsePlatform, platformOf, selectPlatform } from './platform.ts';

test('normalisation of architecture names and variants', () => {
  const n = (os: string, architecture: string, variant?: string) =>
    normalizePlatform({ os, architecture, variant });
  assert.deepEqual(n('Linux', 'x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(n('linux', 'x86-64', 'v1'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(n('linux', 'amd64', 'v3'), { os: 'linux', architecture: 'amd64', variant: 'v3' });
  assert.deepEqual(n('linux', 'aarch64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(n('linux', 'arm64', '8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(n('linux', 'arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(n('linux', 'armhf'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(n('linux', 'armel'), { os: 'linux', architecture: 'arm', variant: 'v6' });
  assert.deepEqual(n('linux', 'arm', '5'), { os: 'linux', architecture: 'arm', variant: 'v5' });
  assert.deepEqual(n('linux', 'i386'), { os: 'linux', architecture: '386' });
  assert.deepEqual(n('macos', 'arm64'), { os: 'darwin', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(platformOf('freebsd', 'x64'), { os: 'freebsd', architecture: 'amd64' });
  assert.deepEqual(platformOf('linux', 'arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
});

test('parsePlatform', () => {
  assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.deepEqual(parsePlatform('freebsd/x86_64'), { os: 'freebsd', architecture: 'amd64' });
  for (const bad of ['linux', 'linux/', '/amd64', 'a/b/c/d', 'linux/amd 64']) {
    assert.throws(
      () => parsePlatform(bad),
      (e) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
      bad,
    );
  }
});

test('matching: os and arch equal, variant exact or older compatible', () => {
  const arm7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
  assert.ok(
    matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v7' }) >
      matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v6' }),
  );
  assert.ok(
    matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v6' }) >
      matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v5' }),
  );
  assert.ok(matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v5' }) > 0);
  assert.equal(matchScore(arm7, { os: 'linux', architecture: 'arm', variant: 'v8' }), -1);
  assert.equal(matchScore(arm7, { os: 'freebsd', architecture: 'arm', variant: 'v7' }), -1);
  assert.ok(matchScore({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'aarch64' }) > 0);
  assert.ok(matchScore({ os: 'linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' }) > 0);
  assert.equal(
    matchScore({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }),
    -1,
  );
  assert.equal(
    matchScore({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64', variant: 'v3' }),
    -1,
  );
  assert.ok(
    matchScore(
      { os: 'linux', architecture: 'amd64', variant: 'v3' },
      { os: 'linux', architecture: 'amd64', variant: 'v2' },
    ) > 0,
  );
});

const d = (
  n: number,
  platform?: Descriptor['platform'],
  mediaType: string = MEDIA_TYPES.ociManifest,
): Descriptor => ({
  mediaType,
  digest: `sha256:${String(n).repeat(64)}`,
  size: 1,
  ...(platform ? { platform } : {}),
});

test('selectPlatform picks the best entry of an index', () => {
  const idx = [
    d(1, { os: 'linux', architecture: 'amd64' }),
    d(2, { os: 'linux', architecture: 'arm', variant: 'v6' }),
    d(3, { os: 'linux', architecture: 'arm', variant: 'v7' }),
    d(4, { os: 'freebsd', architecture: 'amd64' }),
    d(5, { os: 'linux', architecture: 'arm64', variant: 'v8' }),
    d(6, { os: 'unknown', architecture: 'unknown' }),
  ];
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'amd64' })?.digest, idx[0]!.digest);
  assert.equal(selectPlatform(idx, { os: 'freebsd', architecture: 'amd64' })?.digest, idx[3]!.digest);
  assert.equal(
    selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest,
    idx[2]!.digest,
  );
  assert.equal(
    selectPlatform(idx, { os: 'linux', architecture: 'arm', variant: 'v6' })?.digest,
    idx[1]!.digest,
  );
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'aarch64' })?.digest, idx[4]!.digest);
  assert.equal(selectPlatform(idx, { os: 'linux', architecture: 'riscv64' }), undefined);
  assert.equal(
    selectPlatform(idx.slice(1, 3), { os: 'linux', architecture: 'arm', variant: 'v8' })?.digest,
    idx[2]!.digest,
  );
  assert.equal(
    selectPlatform(idx.slice(2, 3), { os: 'linux', architecture: 'arm', variant: 'v6' }),
    undefined,
  );
});

test('selectPlatform ignores non-manifest entries and falls back to an unplatformed manifest', () => {
  const entries = [d(1, { os: 'linux', architecture: 'amd64' }, 'application/vnd.in-toto+json'), d(2)];
  assert.equal(selectPlatform(entries, { os: 'linux', architecture: 'amd64' })?.digest, entries[1]!.digest);
  assert.equal(
    selectPlatform([d(7, undefined, 'text/plain')], { os: 'linux', architecture: 'amd64' }),
    undefined,
  );
});
