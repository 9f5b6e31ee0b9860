import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ImageSummary } from '../../client/images.ts';
import { rows } from './image.ts';

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

const shown = (names: string[]) => rows([image(names)]).map((r) => [r.repository, r.tag, r.digest]);

test('an image pulled by digest lists as REPO <none> with its digest; beside a tag, the tag row carries it', () => {
  assert.deepEqual(shown([`example.org/r@${D}`]), [['example.org/r', '<none>', D]]);
  assert.deepEqual(shown(['example.org/r:1', `example.org/r@${D}`]), [['example.org/r', '1', D]]);
  assert.deepEqual(shown(['docker.io/library/bb:1', `example.org/r@${D}`, `example.org/r@${E}`]), [
    ['bb', '1', '<none>'],
    ['example.org/r', '<none>', E],
  ]);
  assert.deepEqual(shown([]), [['<none>', '<none>', '<none>']]);
});
