/**
 * Whiteouts and opaque directories over a lower tree (delete mode, and overlay mode checked
 * through a real overlayfs mount), change sets from two trees and from an overlay upper
 * directory, turned into layers by createLayer and applied back.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  createWriteStream,
  lstatSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  applyLayer,
  type Change,
  changesFromOverlayUpper,
  changesFromTrees,
  createLayer,
} from '../../src/layers/index.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { chunks, diffSnapshots, readXattrs, snapshot, tarOf } from './layers-helpers.ts';

const run = (cmd: string, args: string[], cwd?: string) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

const L1 = () =>
  tarOf([
    { name: 'a/', type: 'dir' },
    { name: 'a/keep', data: 'keep' },
    { name: 'a/gone', data: 'gone' },
    { name: 'a/sub/', type: 'dir' },
    { name: 'a/sub/x', data: 'x' },
    { name: 'b/', type: 'dir' },
    { name: 'b/old1', data: 'old' },
    { name: 'b/olddir/', type: 'dir' },
    { name: 'b/olddir/y', data: 'y' },
    { name: 'c', data: 'c' },
    { name: 'd/', type: 'dir' },
    { name: 'd/m', data: 'm' },
    { name: 'e/', type: 'dir' },
    { name: 'e/lowerfile', data: 'l' },
    { name: 'f', type: 'symlink', linkname: 'a' },
    { name: 'sg/', type: 'dir', mode: 0o2775, gid: 50 },
  ]);

const L2 = () =>
  tarOf([
    { name: 'a/.wh.gone' },
    { name: 'a/sub/.wh.x' },
    { name: '.wh.c' },
    { name: 'b/', type: 'dir', mode: 0o750 },
    { name: 'b/.wh..wh..opq' },
    { name: 'b/new', data: 'new' },
    { name: 'b/olddir/', type: 'dir' },
    { name: 'b/olddir/z', data: 'z' },
    // a directory re-made by this layer, then whited out: its lower part goes, this layer's stays
    { name: 'd/', type: 'dir' },
    { name: 'd/n', data: 'n' },
    { name: '.wh.d' },
    // an entry of this layer sorted before the opaque marker survives it
    { name: 'e/-early', data: 'early' },
    { name: 'e/.wh..wh..opq' },
    { name: '.wh.f' },
    { name: '.wh.never-existed' },
    // a file of gid 0 in a lower setgid directory keeps gid 0
    { name: 'sg/', type: 'dir', mode: 0o2775, gid: 50 },
    { name: 'sg/f', data: 'f' },
  ]);

const EXPECTED = [
  'a',
  'a/keep',
  'a/sub',
  'b',
  'b/new',
  'b/olddir',
  'b/olddir/z',
  'd',
  'd/n',
  'e',
  'e/-early',
  'sg',
  'sg/f',
];

async function apply(buf: Buffer, root: string, whiteouts: 'delete' | 'overlay' = 'delete') {
  mkdirSync(root, { recursive: true });
  return applyLayer(chunks(buf), { root, whiteouts });
}

/** Mounts an overlay; the returned function unmounts it (call it in `finally`). */
function mountOverlay(target: string, opts: string): () => void {
  mkdirSync(target, { recursive: true });
  run('mount', ['-t', 'overlay', 'overlay', '-o', opts, target]);
  let mounted = true;
  return () => {
    if (mounted) run('umount', [target]);
    mounted = false;
  };
}

describe(
  'whiteouts, opaque directories and change sets',
  requires({
    root: true,
    commands: ['mount', 'umount', 'getfattr', 'setfattr', 'mknod', 'xargs', 'tar', 'cp'],
  }),
  () => {
    test('delete mode: whiteouts remove lower paths, opaque clears lower children, same-layer entries survive', async (t) => {
      const base = tempDir(t, 'brig-wh-');
      const root = join(base, 'root');
      await apply(L1(), root);
      const r = await apply(L2(), root);
      assert.equal(r.entries, 17);
      assert.equal(lstatSync(join(root, 'sg/f')).gid, 0);
      assert.deepEqual([...snapshot(root, { noRoot: true }).keys()].sort(), EXPECTED);
      assert.equal((lstatSync(join(root, 'b')).mode & 0o7777).toString(8), '750');
    });

    test('overlay mode: 0/0 devices and trusted.overlay.opaque, equal to delete mode through a real overlay mount', async (t) => {
      const base = tempDir(t, 'brig-wh-');
      const l1 = join(base, 'l1');
      const l2 = join(base, 'l2');
      await apply(L1(), l1, 'overlay');
      await apply(L2(), l2, 'overlay');
      for (const p of ['a/gone', 'a/sub/x', 'c', 'f', 'never-existed']) {
        const st = lstatSync(join(l2, p));
        assert.ok(st.isCharacterDevice() && st.rdev === 0, `${p} is a whiteout device`);
      }
      const x = readXattrs(l2);
      for (const p of ['./b', './d', './e']) assert.match(x.get(p) ?? '', /trusted\.overlay\.opaque=0x79/, p);
      const merged = join(base, 'merged');
      const deleted = join(base, 'deleted');
      await apply(L1(), deleted);
      await apply(L2(), deleted);
      const umount = mountOverlay(merged, `lowerdir=${l2}:${l1}`);
      try {
        assert.deepEqual([...snapshot(merged, { noRoot: true }).keys()].sort(), EXPECTED);
        const opts = { noRoot: true, mtime: false };
        assert.deepEqual(diffSnapshots(snapshot(deleted, opts), snapshot(merged, opts)), []);
      } finally {
        umount();
      }
    });

    test('unprivileged: owners kept, fifos made, only user.* xattrs', async (t) => {
      const root = join(tempDir(t, 'brig-wh-'), 'root');
      const tar = tarOf([
        {
          name: 'f',
          data: 'x',
          uid: 1234,
          gid: 5678,
          mode: 0o640,
          xattrs: new Map([
            ['user.x', Buffer.from('1')],
            ['trusted.y', Buffer.from('2')],
          ]),
        },
        { name: 'p', type: 'fifo', uid: 1234 },
      ]);
      mkdirSync(root);
      await applyLayer(chunks(tar), { root, unprivileged: true });
      const st = lstatSync(join(root, 'f'));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [process.getuid?.(), process.getgid?.(), 0o640]);
      assert.ok(lstatSync(join(root, 'p')).isFIFO());
      assert.equal(readXattrs(root).get('./f'), 'x[user.x=0x31]');
    });

    test('changesFromTrees -> createLayer -> applyLayer onto the lower gives the upper', async (t) => {
      const base = tempDir(t, 'brig-wh-');
      const lower = join(base, 'lower');
      await apply(L1(), lower);
      writeFileSync(join(lower, 'same-size'), 'aaaa');
      writeFileSync(join(lower, 'to-dir'), 'file');
      mkdirSync(join(lower, 'to-file/inner'), { recursive: true });
      utimesSync(join(lower, 'same-size'), 1000, 1000);
      const upper = join(base, 'upper');
      run('cp', ['-a', lower, upper]);
      const u = (p: string) => join(upper, p);
      writeFileSync(u('same-size'), 'bbbb');
      utimesSync(u('same-size'), 1000, 1000); // only the content tells
      run('chmod', ['4711', u('a/keep')]);
      run('chown', ['7654321:99', u('c')]);
      rmSync(u('a/gone'));
      rmSync(u('b/olddir'), { recursive: true });
      rmSync(u('to-dir'));
      mkdirSync(u('to-dir'));
      writeFileSync(u('to-dir/child'), 'child');
      rmSync(u('to-file'), { recursive: true });
      writeFileSync(u('to-file'), 'now a file');
      rmSync(u('f'));
      symlinkSync('b', u('f'));
      mkdirSync(u('new/deep'), { recursive: true });
      writeFileSync(u('new/deep/file'), 'new');
      run('setfattr', ['-n', 'user.k', '-v', 'v', u('e/lowerfile')]);
      writeFileSync(Buffer.from(`${upper}/raw-\xff-name`, 'latin1'), 'not utf-8');
      const changes = await changesFromTrees(lower, upper);
      const by = new Map(changes.map((c) => [c.path, c.kind]));
      const want: Record<string, Change['kind']> = {
        'same-size': 'modify',
        'a/keep': 'modify',
        c: 'modify',
        'a/gone': 'delete',
        'b/olddir': 'delete',
        'to-dir': 'modify',
        'to-dir/child': 'add',
        'to-file': 'modify',
        f: 'modify',
        new: 'add',
        'new/deep': 'add',
        'new/deep/file': 'add',
        'e/lowerfile': 'modify',
      };
      for (const [p, k] of Object.entries(want)) assert.equal(by.get(p), k, p);
      assert.equal(by.has('a/sub/x'), false, 'unchanged paths are not listed');
      const raw = changes.find((c) => c.rawPath !== undefined);
      assert.deepEqual(raw?.rawPath, Buffer.from('raw-\xff-name', 'latin1'));
      assert.equal(by.has('to-file/inner'), false, 'children of a removed directory are not listed');

      const layer = join(base, 'layer.tar.zst');
      const made = await createLayer({
        root: upper,
        changes,
        compression: 'zstd',
        output: createWriteStream(layer),
      });
      const target = join(base, 'target');
      run('cp', ['-a', lower, target]);
      await applyLayer(chunks(readFileSync(layer)), {
        root: target,
        expectedDigest: made.digest,
        expectedDiffId: made.diffId,
      });
      const opts = { noRoot: true, xattrs: true, seconds: true };
      assert.deepEqual(diffSnapshots(snapshot(upper, opts), snapshot(target, opts)), []);
    });

    test('changesFromOverlayUpper -> createLayer -> applyLayer onto the lower gives the merged view', async (t) => {
      const base = tempDir(t, 'brig-wh-');
      const lower = join(base, 'lower');
      await apply(L1(), lower);
      const upper = join(base, 'upper');
      const work = join(base, 'work');
      const merged = join(base, 'merged');
      mkdirSync(upper);
      mkdirSync(work);
      const umount = mountOverlay(
        merged,
        `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off`,
      );
      let want: Map<string, string>;
      try {
        const m = (p: string) => join(merged, p);
        rmSync(m('a/gone'));
        rmSync(m('b'), { recursive: true });
        mkdirSync(m('b'));
        writeFileSync(m('b/fresh'), 'fresh');
        writeFileSync(m('c'), 'changed');
        run('chmod', ['600', m('a/keep')]);
        mkdirSync(m('n/e/w'), { recursive: true });
        want = snapshot(merged, { noRoot: true, seconds: true });
      } finally {
        umount();
      }

      const changes = await changesFromOverlayUpper(upper);
      const by = new Map(changes.map((c) => [c.path, c]));
      assert.equal(by.get('a/gone')?.kind, 'delete');
      assert.equal(by.get('b')?.opaque, true);
      assert.equal(by.get('a')?.opaque, undefined);
      assert.equal(by.get('c')?.kind, 'modify');
      assert.ok(by.has('n/e/w'));

      const layer = join(base, 'layer.tgz');
      const made = await createLayer({
        root: upper,
        changes,
        compression: 'gzip',
        output: createWriteStream(layer),
      });
      const listing = run('tar', ['-tzf', layer]).toString();
      assert.match(listing, /^a\/\.wh\.gone$/m);
      assert.match(listing, /^b\/\.wh\.\.wh\.\.opq$/m);
      const target = join(base, 'target');
      run('cp', ['-a', lower, target]);
      await applyLayer(chunks(readFileSync(layer)), { root: target, expectedDigest: made.digest });
      assert.deepEqual(diffSnapshots(want, snapshot(target, { noRoot: true, seconds: true })), []);
    });
  },
);
