import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { removeTree } from './remove-tree.ts';

test('removeTree removes a tree; missing is fine', async (t) => {
  const d = tempDir(t);
  mkdirSync(join(d, 'a/b'), { recursive: true });
  writeFileSync(join(d, 'a/b/f'), 'x');
  await removeTree(join(d, 'a'));
  assert.equal(existsSync(join(d, 'a')), false);
  await removeTree(join(d, 'a'));
});

/** Whether chattr +i works here (root, a filesystem with attributes). */
function immutable(file: string): boolean {
  return spawnSync('chattr', ['+i', file]).status === 0;
}

test('removeTree reports EPERM for an immutable file (not ENOTDIR from scandir)', async (t) => {
  const d = tempDir(t);
  mkdirSync(join(d, 'a/b'), { recursive: true });
  const f = join(d, 'a/b/f');
  writeFileSync(f, 'x');
  if (!immutable(f)) return t.skip('chattr +i is not supported here (needs root and ext4/xfs/btrfs)');
  t.after(() => spawnSync('chattr', ['-i', f]));
  await assert.rejects(removeTree(join(d, 'a')), (e: NodeJS.ErrnoException) => {
    assert.equal(e.code, 'EPERM');
    assert.equal(e.path, f);
    return true;
  });
  spawnSync('chattr', ['-i', f]);
  await removeTree(join(d, 'a'));
  assert.equal(existsSync(join(d, 'a')), false);
});
