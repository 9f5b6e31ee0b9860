import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageSummary } from '../../client/images.ts';
import { rowFilter, rows } from './image.ts';

const D = `sha256:${'d'.repeat(64)}`;
const E = `sha256:${'e'.repeat(64)}`;

function image(names: string[]): ImageSummary {
  return {
    id: `sha256:${'1'.repeat(64)}`,
    names,
    manifestDigest: D,
    size: 1,
    platform: 'linux/amd64',
  } as ImageSummary;
}

const shown = (names: string[], digests = false) =>
  rows([image(names)], digests).map((r) => [r.repository, r.tag, r.digest]);

test('an image pulled by digest lists as REPO <none> with its digest; beside a tag, the tag row carries it', () => {
  assert.deepEqual(shown([`example.org/r@${D}`]), [['example.org/r', '<none>', D]]);
  assert.deepEqual(shown(['example.org/r:1', `example.org/r@${D}`]), [['example.org/r', '1', D]]);
  assert.deepEqual(shown(['docker.io/library/bb:1', `example.org/r@${D}`, `example.org/r@${E}`]), [
    ['bb', '1', '<none>'],
    ['example.org/r', '<none>', D],
  ]);
  assert.deepEqual(shown([]), [['<none>', '<none>', '<none>']]);
});

test('digest names add no row without --digests; with it, one row per digest of the repository (docker)', () => {
  // a pull by tag from an index (E), then by the platform manifest's digest (D)
  const names = ['example.org/r:1', 'example.org/r:2', `example.org/r@${E}`, `example.org/r@${D}`];
  assert.deepEqual(shown(names), [
    ['example.org/r', '1', E],
    ['example.org/r', '2', E],
  ]);
  assert.deepEqual(shown(names, true), [
    ['example.org/r', '1', E],
    ['example.org/r', '1', D],
    ['example.org/r', '2', E],
    ['example.org/r', '2', D],
  ]);
  assert.deepEqual(shown([`example.org/r@${E}`, `example.org/r@${D}`]), [['example.org/r', '<none>', E]]);
  assert.deepEqual(shown([`example.org/r@${E}`, `example.org/r@${D}`], true), [
    ['example.org/r', '<none>', E],
    ['example.org/r', '<none>', D],
  ]);
  // brig images REPO@DIGEST finds the tag's row by any of its digests
  const byD = rows([image(names)]).filter(rowFilter(`example.org/r@${D}`));
  assert.deepEqual(
    byD.map((r) => r.tag),
    ['1', '2'],
  );
});

test('brig images REPO[:TAG] keeps the rows of REPO (of TAG when given), as docker does', () => {
  const all = rows([
    image(['docker.io/library/busybox:1', 'docker.io/library/busybox:latest', 'example.org/busybox:1']),
    image(['docker.io/library/alpine:3', `example.org/r@${D}`]),
  ]);
  const kept = (f: string) => all.filter(rowFilter(f)).map((r) => `${r.repository}:${r.tag}`);
  assert.deepEqual(kept('busybox'), ['busybox:1', 'busybox:latest']);
  assert.deepEqual(kept('docker.io/library/busybox'), ['busybox:1', 'busybox:latest']);
  assert.deepEqual(kept('busybox:1'), ['busybox:1']);
  assert.deepEqual(kept('busybox:latest'), ['busybox:latest']);
  assert.deepEqual(kept('example.org/busybox'), ['example.org/busybox:1']);
  assert.deepEqual(kept('example.org/r'), ['example.org/r:<none>']);
  assert.deepEqual(kept(`example.org/r@${D}`), ['example.org/r:<none>']);
  assert.deepEqual(kept(`example.org/r@${E}`), []);
  assert.deepEqual(kept('nothing'), []);
  assert.deepEqual(kept('localhost:5000/busybox'), []);
});
