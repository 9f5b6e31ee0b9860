import assert from 'node:assert/strict';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isRoot } from '../../test/support/require.ts';
import { tempDir } from '../../test/support/tmp.ts';
import { populateVolume } from './populate.ts';

test('populateVolume copies the image directory into an empty new volume, and only then', async (t) => {
  const dir = tempDir(t, 'brig-populate-');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'var/db/app/sub'), { recursive: true });
  writeFileSync(join(rootfs, 'var/db/app/sub/f'), 'data');
  chmodSync(join(rootfs, 'var/db/app'), 0o750);
  if (isRoot) chownSync(join(rootfs, 'var/db/app'), 70, 70);
  mkdirSync(join(rootfs, 'etc'));
  symlinkSync('/etc', join(rootfs, 'hostetc'));
  writeFileSync(join(rootfs, 'file'), 'x');
  const vol = (n: string) => {
    const p = join(dir, n, '_data');
    mkdirSync(p, { recursive: true });
    return p;
  };

  const v1 = vol('v1');
  assert.equal(await populateVolume(rootfs, '/var/db/app', v1), true);
  assert.equal(readFileSync(join(v1, 'sub/f'), 'utf8'), 'data');
  assert.equal(statSync(v1).mode & 0o777, 0o750);
  if (isRoot) assert.equal(statSync(v1).uid, 70);

  // not empty: untouched
  const v2 = vol('v2');
  writeFileSync(join(v2, 'mine'), '1');
  assert.equal(await populateVolume(rootfs, '/var/db/app', v2), false);
  assert.deepEqual(readdirSync(v2), ['mine']);

  // missing, a file, a symlink (never followed out of the rootfs), the root itself
  for (const d of ['/nope', '/file', '/hostetc', '/hostetc/ssl', '/', '/var/../etc']) {
    const v = vol(`x${d.replace(/\W/g, '_')}`);
    assert.equal(await populateVolume(rootfs, d, v), false, d);
    assert.deepEqual(readdirSync(v), []);
  }
});
