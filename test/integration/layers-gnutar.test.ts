/**
 * Round trips against GNU tar as the oracle, over a tree with every file type, setuid/setgid/
 * sticky modes, uid 7654321, long names (> 100 and > 255 bytes), non-ASCII and non-UTF-8 names,
 * xattrs (security.capability set by setcap, binary user.* values, trusted.*), hardlinks,
 * fifos and devices:
 * - a GNU-tar-made tar (POSIX and GNU formats) applied by applyLayer == GNU tar's extraction;
 * - createLayer's tar extracted by GNU tar (and by applyLayer) == the source tree;
 * - gzip and zstd layers (the `zstd` and `gzip` commands read what createLayer writes),
 *   determinism, mtime clamp, digest verification.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BrigError, isBrigError } from '../../src/errors/errors.ts';
import { applyLayer, createLayer } from '../../src/layers/index.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { diffSnapshots, snapshot } from './layers-helpers.ts';

const T0 = 1600000000;

function run(cmd: string, args: string[], cwd?: string): Buffer {
  return execFileSync(cmd, args, { cwd, maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The rich tree; returns its path. */
function makeTree(base: string): string {
  const src = join(base, 'src');
  const p = (rel: string) => join(src, rel);
  mkdirSync(p('d1/sub'), { recursive: true });
  mkdirSync(p('sticky'), { mode: 0o1777 });
  const longDir = `long/${'a'.repeat(120)}`;
  mkdirSync(p(longDir), { recursive: true });
  writeFileSync(p('d1/file.txt'), 'hello world\n');
  writeFileSync(p('empty'), '');
  writeFileSync(p('big.bin'), Buffer.alloc(3 << 20, 0x5a));
  writeFileSync(p('setuid'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(p('setgid'), 'g', { mode: 0o755 });
  writeFileSync(p('owned'), 'o');
  for (const m of [0o666, 0o777, 0o640, 0o600, 0o000, 0o1755]) {
    writeFileSync(p(`mode-${m.toString(8)}`), 'm');
    run('chmod', [m.toString(8), p(`mode-${m.toString(8)}`)]);
  }
  writeFileSync(p(`${longDir}/${'b'.repeat(150)}`), 'long name');
  writeFileSync(p('häßlich-名前.txt'), 'utf8 name');
  writeFileSync(Buffer.from(`${src}/raw-\xff\xfe-name`, 'latin1'), 'not utf-8');
  writeFileSync(p('capfile'), 'cap', { mode: 0o755 });
  writeFileSync(p('attrs'), 'attrs');
  writeFileSync(p('hl1'), 'hardlinked');
  linkSync(p('hl1'), p('d1/hl2'));
  run('mkfifo', [p('fifo')]);
  run('mknod', [p('null'), 'c', '1', '3']);
  run('mknod', [p('loop'), 'b', '7', '0']);
  symlinkSync('d1/file.txt', p('rel-link'));
  symlinkSync('/etc/passwd', p('abs-link'));
  symlinkSync('nowhere', p('dangling'));
  symlinkSync(`${'t'.repeat(150)}/target`, p('long-link'));
  run('chown', ['7654321:7654321', p('owned'), p('d1/sub')]);
  run('chown', ['-h', '123:456', p('rel-link')]);
  run('chmod', ['4755', p('setuid')]);
  run('chmod', ['2755', p('setgid')]);
  run('chmod', ['1777', p('sticky')]);
  run('setcap', ['cap_net_raw+ep', p('capfile')]);
  run('setfattr', ['-n', 'user.text', '-v', 'value', p('attrs')]);
  run('setfattr', ['-n', 'user.bin', '-v', '0x00ff0a0d', p('attrs')]);
  run('setfattr', ['-n', 'trusted.t', '-v', 'tv', p('attrs')]);
  run('setfattr', ['-n', 'user.dir', '-v', 'd', p('d1')]);
  // mtimes: children before their directories (find -depth), each path its own second
  const all = run('find', ['.', '-depth'], src).toString('latin1').split('\n').filter(Boolean);
  let i = 0;
  for (const rel of all) {
    i++;
    const b = Buffer.from(rel, 'latin1');
    const u = b.toString('utf8');
    if (!Buffer.from(u).equals(b)) continue; // argv is UTF-8: the raw name is done below
    run('touch', ['-h', '-d', `@${T0 + i * 1000}`, u], src);
  }
  run('find', ['.', '-name', 'raw-*', '-exec', 'touch', '-h', '-d', `@${T0 + 7}`, '{}', '+'], src);
  return src;
}

const XATTR_ARGS = ['--xattrs', '--xattrs-include=*', '--numeric-owner'];

function gnuExtract(tarFile: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  run('tar', ['-xpf', tarFile, ...XATTR_ARGS, '-C', dir]);
}

async function applyFile(file: string, root: string, opts: Parameters<typeof applyLayer>[1] | object = {}) {
  mkdirSync(root, { recursive: true });
  return applyLayer(createReadStream(file), { root, ...opts });
}

async function createTo(file: string, opts: Omit<Parameters<typeof createLayer>[0], 'output'>) {
  return createLayer({ ...opts, output: createWriteStream(file) });
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe(
  'layers against GNU tar',
  requires({
    root: true,
    commands: [
      'tar',
      'setfattr',
      'getfattr',
      'setcap',
      'mknod',
      'mkfifo',
      'zstd',
      'gzip',
      'xargs',
      'find',
      'touch',
    ],
  }),
  () => {
    test('a GNU tar (POSIX format, xattrs) applied by brig equals GNU tar extraction', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = makeTree(base);
      const tarFile = join(base, 'posix.tar');
      run('tar', ['--format=posix', ...XATTR_ARGS, '-cf', tarFile, '-C', src, '.']);
      gnuExtract(tarFile, join(base, 'gnu'));
      const r = await applyFile(tarFile, join(base, 'ours'));
      assert.equal(r.digest, sha(readFileSync(tarFile)));
      assert.equal(r.diffId, r.digest);
      const want = snapshot(join(base, 'gnu'), { xattrs: true });
      assert.deepEqual(diffSnapshots(want, snapshot(join(base, 'ours'), { xattrs: true })), []);
      // the oracle itself kept what we meant to test
      assert.match(want.get('capfile') ?? '', /security\.capability=0x/);
      assert.match(want.get('attrs') ?? '', /user\.bin=0x00ff0a0d/);
      assert.match(want.get('owned') ?? '', / 7654321 7654321 /);
      assert.match(want.get('setuid') ?? '', /^f 4755 /);
      assert.ok(want.has('raw-\xff\xfe-name'));
      assert.equal(want.size, snapshot(src).size);
    });

    test('a GNU tar (GNU format: long names L/K, base-256 ids) applied by brig equals GNU tar extraction', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = makeTree(base);
      const tarFile = join(base, 'gnu.tar.gz');
      run('tar', ['--format=gnu', '--numeric-owner', '-czf', tarFile, '-C', src, '.']);
      mkdirSync(join(base, 'gnu'));
      run('tar', ['-xpzf', tarFile, '--numeric-owner', '-C', join(base, 'gnu')]);
      const r = await applyFile(tarFile, join(base, 'ours'));
      assert.notEqual(r.digest, r.diffId);
      assert.deepEqual(diffSnapshots(snapshot(join(base, 'gnu')), snapshot(join(base, 'ours'))), []);
    });

    test('createLayer output extracted by GNU tar (and by brig) equals the source tree', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = makeTree(base);
      const layer = join(base, 'layer.tar');
      const made = await createTo(layer, { root: src, changes: 'all', compression: 'none' });
      assert.equal(made.mediaType, 'application/vnd.oci.image.layer.v1.tar');
      assert.equal(made.digest, sha(readFileSync(layer)));
      gnuExtract(layer, join(base, 'gnu'));
      const want = snapshot(src, { xattrs: true, noRoot: true });
      assert.deepEqual(diffSnapshots(want, snapshot(join(base, 'gnu'), { xattrs: true, noRoot: true })), []);
      await applyFile(layer, join(base, 'ours'), {
        expectedDigest: made.digest,
        expectedDiffId: made.diffId,
      });
      assert.deepEqual(diffSnapshots(want, snapshot(join(base, 'ours'), { xattrs: true, noRoot: true })), []);
      // hardlinks stay hardlinks
      assert.match(run('tar', ['-tvf', layer]).toString('latin1'), /hl2 link to hl1|hl1 link to d1\/hl2/);
    });

    test('gzip and zstd layers: the CLI tools read them, brig applies them, output is deterministic', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = makeTree(base);
      const plain = await createTo(join(base, 'l.tar'), { root: src, changes: 'all', compression: 'none' });
      const want = snapshot(src, { xattrs: true, noRoot: true });
      for (const c of ['gzip', 'zstd'] as const) {
        const file = join(base, `l.tar.${c}`);
        const made = await createTo(file, { root: src, changes: 'all', compression: c });
        assert.equal(made.mediaType, `application/vnd.oci.image.layer.v1.tar+${c}`);
        assert.equal(made.diffId, plain.diffId, 'same tar inside');
        assert.equal(made.digest, sha(readFileSync(file)));
        assert.equal(made.size, readFileSync(file).length);
        assert.equal(sha(run(c, ['-dc', file])), plain.diffId, `${c} -dc reads it`);
        const again = await createTo(join(base, `again.${c}`), { root: src, changes: 'all', compression: c });
        assert.equal(again.digest, made.digest, 'two runs give the same digest');
        const out = join(base, `out-${c}`);
        const r = await applyFile(file, out, { expectedDigest: made.digest, expectedDiffId: made.diffId });
        assert.deepEqual(r, {
          digest: made.digest,
          diffId: made.diffId,
          size: made.size,
          entries: r.entries,
        });
        assert.deepEqual(diffSnapshots(want, snapshot(out, { xattrs: true, noRoot: true })), []);
      }
    });

    test('mtime clamp', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = makeTree(base);
      const clamp = T0 + 5000;
      const file = join(base, 'l.tar');
      await createTo(file, { root: src, changes: 'all', compression: 'none', mtimeClamp: clamp });
      const listing = run('tar', ['--full-time', '--numeric-owner', '-tvf', file, '--utc']).toString(
        'latin1',
      );
      const times = [...listing.matchAll(/ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) /g)].map(
        (m) => Date.parse(`${m[1]}Z`) / 1000,
      );
      assert.ok(times.length > 20);
      assert.ok(times.every((x) => x <= clamp));
      assert.ok(times.some((x) => x === clamp));
      assert.ok(times.some((x) => x < clamp));
    });

    test('digest and diff_id verification, corrupt and unknown compression', async (t) => {
      const base = tempDir(t, 'brig-gnutar-');
      const src = join(base, 'src');
      mkdirSync(src);
      writeFileSync(join(src, 'f'), randomBytes(100000));
      const file = join(base, 'l.tgz');
      const made = await createTo(file, { root: src, changes: 'all', compression: 'gzip' });
      const wrong = `sha256:${'0'.repeat(64)}`;
      for (const opts of [
        { expectedDigest: wrong },
        { expectedDiffId: wrong },
        { expectedDigest: made.diffId },
      ]) {
        await assert.rejects(applyFile(file, join(base, 'o1'), opts), (e) =>
          isBrigError(e, 'ERR_CONTENT_DIGEST_MISMATCH'),
        );
      }
      const cut = join(base, 'cut.tgz');
      writeFileSync(cut, readFileSync(file).subarray(0, 200));
      await assert.rejects(applyFile(cut, join(base, 'o2')), (e) => isBrigError(e, 'ERR_LAYER_INVALID'));
      const bz = join(base, 'l.bz2');
      writeFileSync(bz, Buffer.from('BZh91AY&SY'));
      await assert.rejects(applyFile(bz, join(base, 'o3')), (e) => isBrigError(e, 'ERR_LAYER_COMPRESSION'));
      const plain = join(base, 'l.tar');
      await createTo(plain, { root: src, changes: 'all', compression: 'none' });
      // errors of the source itself pass through (a BrigError as is, an errno one translated)
      for (const c of ['gzip', 'none'] as const) {
        const bytes = readFileSync(c === 'gzip' ? file : plain);
        for (const [err, code] of [
          [new BrigError('ERR_CONTENT_CORRUPT', 'corrupt'), 'ERR_CONTENT_CORRUPT'],
          [Object.assign(new Error('gone'), { code: 'ENOENT' }), 'ERR_NOT_FOUND'],
        ] as const) {
          async function* failing() {
            yield bytes.subarray(0, 1000);
            throw err;
          }
          mkdirSync(join(base, 'o5'), { recursive: true });
          await assert.rejects(applyLayer(failing(), { root: join(base, 'o5'), compression: c }), (e) =>
            isBrigError(e, code),
          );
        }
      }
      const tarCut = join(base, 'cut.tar');
      writeFileSync(tarCut, readFileSync(plain));
      truncateSync(tarCut, 5000);
      await assert.rejects(applyFile(tarCut, join(base, 'o4')), (e) => isBrigError(e, 'ERR_LAYER_INVALID'));
    });
  },
);
