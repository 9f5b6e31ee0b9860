import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MEDIA_TYPES, parseIndex } from '../images/oci.ts';
import { mergeIntoIndex } from './push.ts';

const d = (c: string) => `sha256:${c.repeat(64)}` as const;

test('mergeIntoIndex replaces the entry for the platform, keeps the others and unknown fields', () => {
  const old = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    annotations: { a: 'b' },
    manifests: [
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('1'),
        size: 10,
        platform: { os: 'linux', architecture: 'amd64' },
        annotations: { x: 'y' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('2'),
        size: 11,
        platform: { os: 'freebsd', architecture: 'amd64' },
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: d('3'),
        size: 12,
        platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      },
    ],
  };
  const bytes = Buffer.from(JSON.stringify(old));
  const { bytes: out, kept } = mergeIntoIndex(
    parseIndex(JSON.parse(bytes.toString())),
    MEDIA_TYPES.ociIndex,
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('4'),
      size: 13,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    bytes,
  );
  const idx = JSON.parse(out.toString());
  assert.deepEqual(idx.annotations, { a: 'b' });
  assert.deepEqual(
    idx.manifests.map((m: { digest: string }) => m.digest),
    [d('2'), d('3'), d('4')],
  );
  assert.deepEqual(kept, [
    { os: 'freebsd', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ]);
  // a new platform is added
  const r2 = mergeIntoIndex(
    parseIndex(JSON.parse(bytes.toString())),
    MEDIA_TYPES.ociIndex,
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('5'),
      size: 1,
      platform: { os: 'freebsd', architecture: 'arm64' },
    },
    bytes,
  );
  assert.equal(JSON.parse(r2.bytes.toString()).manifests.length, 4);
});
