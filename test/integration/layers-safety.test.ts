/**
 * Hostile layers: for each tar of the corpus, applying it must raise the expected code (or
 * succeed) and must leave everything outside the root exactly as it was. A sentinel tree
 * (files, a directory, a symlink) sits beside the root and is what the corpus aims at; the
 * whole parent directory, root excluded, is snapshotted (paths, types, modes, owners, sizes,
 * content hashes, link targets, mtimes, xattrs) before and after.
 *
 * The corpus is produced by brig's own writer and, independently, by python's tarfile and
 * GNU tar.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ErrorCode } from '../../src/errors/catalogue.ts';
import { type BrigError, isBrigError } from '../../src/errors/errors.ts';
import { applyLayer } from '../../src/layers/index.ts';
import { requires } from '../support/require.ts';
import { rawHeader } from '../support/tar.ts';
import { tempDir } from '../support/tmp.ts';
import { chunks, diffSnapshots, snapshot, type TarInput, tarOf } from './layers-helpers.ts';

interface Ctx {
  base: string;
  root: string;
  /** Absolute path of the sentinel directory. */
  s: string;
}

interface Case {
  name: string;
  tar: (c: Ctx) => Buffer;
  code: ErrorCode | null;
  unprivileged?: boolean;
  whiteouts?: 'delete' | 'overlay';
  check?: (c: Ctx) => void;
}

const own = (f: (c: Ctx) => TarInput[]) => (c: Ctx) => tarOf(f(c));

/** A tar made by python's tarfile (PAX format) from a JSON spec. */
function py(spec: (c: Ctx) => Array<{ name: string; type: string; linkname?: string; data?: string }>) {
  const script = `
import io, json, sys, tarfile
T = {'file': tarfile.REGTYPE, 'dir': tarfile.DIRTYPE, 'symlink': tarfile.SYMTYPE, 'hardlink': tarfile.LNKTYPE}
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
    for e in json.loads(sys.argv[1]):
        ti = tarfile.TarInfo(e['name'])
        ti.type = T[e['type']]
        ti.linkname = e.get('linkname', '')
        data = e.get('data', '').encode()
        ti.size = len(data) if e['type'] == 'file' else 0
        ti.mode = 0o755 if e['type'] == 'dir' else 0o644
        ti.mtime = 1700000000
        tf.addfile(ti, io.BytesIO(data) if ti.size else None)
sys.stdout.buffer.write(buf.getvalue())
`;
  return (c: Ctx) => execFileSync('python3', ['-c', script, JSON.stringify(spec(c))], { maxBuffer: 1 << 24 });
}

/** A tar made by GNU tar: a symlink `a -> TARGET`, then a file renamed to `NAME` by --transform. */
function gnu(target: (c: Ctx) => string, name: (c: Ctx) => string) {
  return (c: Ctx) => {
    const work = join(c.base, 'gnu-work');
    mkdirSync(join(work, 'src'), { recursive: true });
    symlinkSync(target(c), join(work, 'src', 'a'));
    writeFileSync(join(work, 'p'), 'pwned by gnu tar');
    const out = join(work, 'x.tar');
    execFileSync('tar', ['--format=posix', '-cf', out, '-C', join(work, 'src'), 'a']);
    execFileSync('tar', [
      '--format=posix',
      '-P',
      '-rf',
      out,
      '-C',
      work,
      `--transform=s,^p$,${name(c)},`,
      'p',
    ]);
    const b = readFileSync(out);
    execFileSync('rm', ['-rf', work]);
    return b;
  };
}

const inRoot = (c: Ctx, rel: string) => join(c.root, rel);

const cases: Case[] = [
  {
    name: 'name climbing out: ../sentinel/x',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [{ name: '../sentinel/pwned', data: 'x' }]),
  },
  {
    name: 'name climbing out after a dir: a/../../sentinel/x',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [{ name: 'a/../../sentinel/pwned', data: 'x' }]),
  },
  {
    name: 'absolute name lands inside the root',
    code: null,
    tar: own((c) => [{ name: `${c.s}/pwned`, data: 'x' }]),
    check: (c) => assert.equal(readFileSync(inRoot(c, `${c.s}/pwned`), 'utf8'), 'x'),
  },
  {
    name: 'symlink to an absolute dir, then a file through it',
    code: null,
    tar: own((c) => [
      { name: 'a', type: 'symlink', linkname: c.s },
      { name: 'a/pwned', data: 'x' },
    ]),
    check: (c) => assert.ok(existsSync(inRoot(c, `${c.s}/pwned`))),
  },
  {
    name: 'symlink a -> ../../.. then a/x clamps at the root',
    code: null,
    tar: own(() => [
      { name: 'a', type: 'symlink', linkname: '../../..' },
      { name: 'a/pwned', data: 'x' },
    ]),
    check: (c) => assert.ok(existsSync(inRoot(c, 'pwned'))),
  },
  {
    name: 'symlink a -> ../sentinel then a/file overwrite',
    code: null,
    tar: own(() => [
      { name: 'a', type: 'symlink', linkname: '../sentinel' },
      { name: 'a/file', data: 'overwritten' },
    ]),
    check: (c) => assert.equal(readFileSync(inRoot(c, 'sentinel/file'), 'utf8'), 'overwritten'),
  },
  {
    name: 'symlink chain through several links and ..',
    code: null,
    tar: own((c) => [
      { name: 'l1', type: 'symlink', linkname: 'l2/../../..' },
      { name: 'l2', type: 'symlink', linkname: `${c.s}/dir` },
      { name: 'l1/sentinel/dir/inner', data: 'x' },
    ]),
  },
  {
    name: 'symlink loop',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [
      { name: 'l1', type: 'symlink', linkname: 'l2' },
      { name: 'l2', type: 'symlink', linkname: 'l1' },
      { name: 'l1/x', data: 'x' },
    ]),
  },
  {
    name: 'final symlink is replaced, not followed',
    code: null,
    tar: own((c) => [
      { name: 'f', type: 'symlink', linkname: `${c.base}/sentinel/file` },
      { name: 'g', type: 'symlink', linkname: '../sentinel/file' },
      { name: 'f', data: 'pwned' },
      { name: 'g', data: 'pwned' },
      { name: 'd', type: 'symlink', linkname: `${c.base}/sentinel/dir` },
      { name: 'd', type: 'dir', mode: 0o777, mtime: 5 },
    ]),
    check: (c) => {
      assert.ok(lstatSync(inRoot(c, 'f')).isFile());
      assert.ok(lstatSync(inRoot(c, 'd')).isDirectory());
    },
  },
  {
    name: 'hardlink to an absolute host path resolves inside the root',
    code: 'ERR_LAYER_INVALID',
    tar: own(() => [{ name: 'h', type: 'hardlink', linkname: '/etc/passwd' }]),
  },
  {
    name: 'hardlink to the sentinel by absolute path resolves inside the root',
    code: 'ERR_LAYER_INVALID',
    tar: own((c) => [{ name: 'h', type: 'hardlink', linkname: `${c.s}/file` }]),
  },
  {
    name: 'hardlink climbing out',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [{ name: 'h', type: 'hardlink', linkname: '../sentinel/file' }]),
  },
  {
    name: 'hardlink through a symlinked parent pointing out',
    code: 'ERR_LAYER_INVALID',
    tar: own(() => [
      { name: 'a', type: 'symlink', linkname: '../../sentinel' },
      { name: 'h', type: 'hardlink', linkname: 'a/file' },
    ]),
  },
  {
    name: 'hardlink to a symlink pointing out, then writes to both names',
    code: null,
    tar: own((c) => [
      { name: 's', type: 'symlink', linkname: `${c.base}/sentinel/file` },
      { name: 'h', type: 'hardlink', linkname: 's' },
      { name: 'h', data: 'pwned' },
      { name: 's', data: 'pwned' },
    ]),
  },
  {
    name: 'hardlink to a directory',
    code: 'ERR_LAYER_INVALID',
    tar: own(() => [
      { name: 'd', type: 'dir' },
      { name: 'h', type: 'hardlink', linkname: 'd' },
    ]),
  },
  {
    name: 'whiteout climbing out: ../.wh.sentinel',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [{ name: '../.wh.sentinel' }]),
  },
  { name: 'whiteout of ..', code: 'ERR_LAYER_UNSAFE_PATH', tar: own(() => [{ name: 'a/.wh..' }]) },
  {
    name: 'whiteout under a symlinked parent pointing out',
    code: null,
    tar: own((c) => [
      { name: 'a', type: 'symlink', linkname: c.s },
      { name: 'a/.wh.file' },
      { name: 'b', type: 'symlink', linkname: '../sentinel' },
      { name: 'b/.wh.dir' },
      { name: 'b/.wh..wh..opq' },
    ]),
  },
  {
    name: 'opaque directory through a symlink pointing out',
    code: null,
    tar: own((c) => [
      { name: 'o', type: 'symlink', linkname: `${c.base}/sentinel` },
      { name: 'o/.wh..wh..opq' },
    ]),
  },
  {
    name: 'directory replaced by a symlink, then written through (TOCTOU in one stream)',
    code: null,
    tar: own((c) => [
      { name: 'd', type: 'dir', mode: 0o700, mtime: 1 },
      { name: 'd/y', data: 'x', xattrs: new Map([['user.pwned', Buffer.from('1')]]) },
      { name: 'd', type: 'symlink', linkname: `${c.base}/sentinel` },
      { name: 'd/y', data: 'pwned' },
      { name: 'd/dir', type: 'dir', mode: 0o700, mtime: 1 },
      { name: 'd', type: 'symlink', linkname: '../sentinel' },
      { name: 'd/file', data: 'pwned' },
    ]),
  },
  {
    name: 'deferred directory metadata under a directory later replaced by a symlink pointing out',
    code: null,
    tar: own((c) => [
      { name: 'x/', type: 'dir' },
      { name: 'x/dir/', type: 'dir', mode: 0o777, mtime: 1 },
      { name: 'x', type: 'symlink', linkname: c.s },
      { name: 'y/', type: 'dir' },
      { name: 'y/dir/', type: 'dir', mode: 0o777, mtime: 1 },
      { name: 'y', type: 'symlink', linkname: `../../../../../../../../../..${c.s}` },
    ]),
  },
  {
    name: 'root entry as a file',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: own(() => [{ name: './', type: 'symlink', linkname: '/' }]),
  },
  {
    name: 'NUL in a PAX path',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: () => {
      const rec = Buffer.from('28 path=ok\0../../sentinel/x\n', 'latin1');
      return Buffer.concat([
        rawHeader('PaxHeaders/x', 'x', rec.length),
        rec,
        Buffer.alloc(512 - rec.length),
        tarOf([{ name: 'ok', data: 'x' }]),
      ]);
    },
  },
  {
    name: 'huge PAX header',
    code: 'ERR_LAYER_INVALID',
    tar: () => Buffer.concat([rawHeader('PaxHeaders/x', 'x', 64 << 20), Buffer.alloc(4096)]),
  },
  {
    name: 'device node when unprivileged',
    code: 'ERR_LAYER_DEVICE_REFUSED',
    unprivileged: true,
    tar: own(() => [{ name: 'mem', type: 'char', devmajor: 1, devminor: 1 }]),
  },
  {
    name: 'device node through a symlink pointing out',
    code: null,
    tar: own((c) => [
      { name: 'dev', type: 'symlink', linkname: c.s },
      { name: 'dev/file', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'dev/fifo', type: 'fifo' },
    ]),
    check: (c) => assert.ok(lstatSync(inRoot(c, `${c.s}/file`)).isCharacterDevice()),
  },
  {
    name: 'device node whose directory is then replaced by a symlink pointing out',
    code: null,
    tar: own((c) => [
      { name: 'd/', type: 'dir' },
      { name: 'd/file', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'd/fifo', type: 'fifo' },
      { name: 'd', type: 'symlink', linkname: c.s },
      { name: 'e', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'e', data: 'replaced by a file' },
    ]),
    check: (c) => assert.ok(lstatSync(inRoot(c, 'e')).isFile()),
  },
  {
    name: 'hardlink to a device node',
    code: null,
    tar: own(() => [
      { name: 'n', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'h', type: 'hardlink', linkname: 'n' },
    ]),
    check: (c) => {
      const st = lstatSync(inRoot(c, 'h'));
      assert.ok(st.isCharacterDevice());
      assert.equal(st.nlink, 2);
    },
  },
  {
    name: 'overlay whiteouts through a symlink pointing out',
    code: null,
    whiteouts: 'overlay',
    tar: own(() => [
      { name: 'a', type: 'symlink', linkname: '../sentinel' },
      { name: 'a/.wh.file' },
      { name: 'a/.wh..wh..opq' },
    ]),
    check: (c) => assert.ok(lstatSync(inRoot(c, 'sentinel/file')).isCharacterDevice()),
  },
  {
    name: 'xattr on a path later replaced by a symlink pointing out',
    code: null,
    tar: own((c) => [
      { name: 'x', type: 'dir', xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')]]) },
      { name: 'x/y', data: '1', xattrs: new Map([['user.pwned', Buffer.from('1')]]) },
      { name: 'x', type: 'symlink', linkname: c.s },
    ]),
  },
  // independent producers
  {
    name: 'python tarfile: ../ name',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: py(() => [{ name: '../sentinel/pwned', type: 'file', data: 'x' }]),
  },
  {
    name: 'python tarfile: symlink out then file through it',
    code: null,
    tar: py((c) => [
      { name: 'a', type: 'symlink', linkname: c.s },
      { name: 'a/file', type: 'file', data: 'pwned' },
    ]),
  },
  {
    name: 'python tarfile: hardlink out',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: py(() => [{ name: 'h', type: 'hardlink', linkname: '../../sentinel/file' }]),
  },
  {
    name: 'python tarfile: dir replaced by symlink',
    code: null,
    tar: py((c) => [
      { name: 'd', type: 'dir' },
      { name: 'd', type: 'symlink', linkname: c.s },
      { name: 'd/file', type: 'file', data: 'pwned' },
    ]),
  },
  {
    name: 'python tarfile: whiteout out',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: py(() => [{ name: 'x/../../.wh.sentinel', type: 'file' }]),
  },
  {
    name: 'GNU tar: symlink to the sentinel then a/file',
    code: null,
    tar: gnu(
      (c) => c.s,
      () => 'a/file',
    ),
  },
  {
    name: 'GNU tar: relative escape then a/file',
    code: null,
    tar: gnu(
      () => '../../../../..',
      (c) => `a${c.s}/file`,
    ),
  },
  {
    name: 'GNU tar -P: ../ name',
    code: 'ERR_LAYER_UNSAFE_PATH',
    tar: gnu(
      () => 'x',
      () => '../sentinel/file',
    ),
  },
];

function makeSentinel(base: string): string {
  const s = join(base, 'sentinel');
  mkdirSync(join(s, 'dir'), { recursive: true });
  writeFileSync(join(s, 'file'), 'sentinel');
  writeFileSync(join(s, 'y'), 'sentinel y');
  writeFileSync(join(s, 'dir', 'inner'), 'inner');
  symlinkSync('file', join(s, 'link'));
  for (const p of ['file', 'y', 'dir/inner', 'dir', '.']) utimesSync(join(s, p), 1000, 1000);
  return s;
}

describe(
  'hostile layers never touch anything outside the root',
  requires({ root: true, commands: ['python3', 'tar', 'getfattr', 'setfattr', 'mknod', 'mkfifo', 'xargs'] }),
  () => {
    for (const c of cases) {
      test(c.name, async (t) => {
        const base = tempDir(t, 'brig-hostile-');
        const root = join(base, 'root');
        mkdirSync(root);
        const ctx: Ctx = { base, root, s: makeSentinel(base) };
        const tar = c.tar(ctx);
        const snapOpts = { exclude: ['root'], xattrs: true };
        const before = snapshot(base, snapOpts);
        const passwd = statSync('/etc/passwd');
        let err: unknown;
        try {
          await applyLayer(chunks(tar, 1000), { root, unprivileged: c.unprivileged, whiteouts: c.whiteouts });
        } catch (e) {
          err = e;
        }
        if (c.code === null) {
          assert.equal(err, undefined, `unexpected ${(err as Error)?.stack}`);
        } else {
          assert.ok(
            isBrigError(err, c.code),
            `expected ${c.code}, got ${(err as BrigError)?.code}: ${(err as Error)?.message}`,
          );
          if (c.code === 'ERR_LAYER_UNSAFE_PATH' || c.code === 'ERR_LAYER_DEVICE_REFUSED') {
            assert.equal(typeof (err as BrigError).details?.entry, 'string', 'details.entry names the entry');
          }
        }
        assert.deepEqual(diffSnapshots(before, snapshot(base, snapOpts)), []);
        const p2 = statSync('/etc/passwd');
        assert.equal(p2.nlink, passwd.nlink);
        assert.equal(p2.mtimeMs, passwd.mtimeMs);
        c.check?.(ctx);
      });
    }
  },
);
