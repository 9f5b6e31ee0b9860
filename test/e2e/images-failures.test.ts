/**
 * What `brig image import|export|unpack` say when things go wrong, through the built CLI and
 * daemon (issue 2 audit, bugs 9-11):
 *   - import prints `Imported NAME` for the name this import recorded only;
 *   - a full destination file system (export, unpack) is named in the hint, not the brig root;
 *     an archive DEST in a missing directory is ERR_NOT_FOUND with a hint naming the directory;
 *   - a layer blob damaged on disk makes unpack fail with ERR_CONTENT_CORRUPT naming the blob,
 *     and importing the image again replaces the damaged blob;
 * and two docker forms (bug 12): `brig image import -` reads the archive on stdin (docker load),
 * `brig images REPO[:TAG]` lists that repository only.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportImage, unpackImage } from '../../src/client/images.ts';
import { type BrigError, isBrigError } from '../../src/errors/errors.ts';
import { busyboxImage } from '../support/busybox.ts';
import { BRIG, childEnv, outputOf, startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const ID_LINE = /^sha256:[0-9a-f]{64}$/;

test(
  'image import prints the name this import recorded, not every name the image has',
  requires({ root: true, linux: true, commands: ['umoci', 'busybox'] }),
  async (t) => {
    const { layout } = busyboxImage();
    const d = await startDaemon(t);
    const work = tempDir(t);
    let r = await d.brig(['image', 'import', layout, 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    const [imported, id] = r.stdout.trimEnd().split('\n');
    assert.equal(imported, 'Imported docker.io/library/busybox:1');
    assert.match(id!, ID_LINE);
    r = await d.brig(['image', 'tag', 'busybox:1', 'example.org/other:2']);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'import', layout, 'third:3']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Imported docker.io/library/third:3\n${id}\n`);
    // a source with no name, no NAME: the image keeps its names, the import gave none
    const bare = join(work, 'bare');
    execFileSync('cp', ['-a', layout, bare]);
    const index = JSON.parse(readFileSync(join(bare, 'index.json'), 'utf8'));
    for (const m of index.manifests) delete m.annotations;
    writeFileSync(join(bare, 'index.json'), JSON.stringify(index));
    r = await d.brig(['image', 'import', bare]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${id}\n`);
    r = await d.brig(['images', '--json']);
    assert.equal(JSON.parse(r.stdout)[0].names.length, 3);
  },
);

test(
  'a full destination, or a missing one, is named in the hint',
  requires({ root: true, linux: true, commands: ['umoci', 'busybox', 'mount', 'umount'] }),
  async (t) => {
    const { layout } = busyboxImage();
    const d = await startDaemon(t);
    const work = tempDir(t);
    const r = await d.brig(['image', 'import', layout, 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);

    // an archive in a directory that does not exist
    const missing = join(work, 'no', 'such');
    const e1 = await exportImage(d.client, 'busybox:1', join(missing, 'x.tar')).catch((e: unknown) => e);
    assert.ok(isBrigError(e1, 'ERR_NOT_FOUND'), String(e1));
    assert.ok((e1 as BrigError).hint?.includes(missing), (e1 as BrigError).hint);

    // a 64 KiB tmpfs: the busybox image (~1 MB) does not fit (unmounted before its directory goes)
    const full = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), 'brig-full-'));
    t.after(() => {
      execFileSync('umount', [full]);
      rmSync(full, { recursive: true, force: true });
    });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    for (const [what, run] of [
      ['export .tar', () => exportImage(d.client, 'busybox:1', join(full, 'x.tar'))],
      ['export dir', () => exportImage(d.client, 'busybox:1', join(full, 'layout'))],
      ['unpack', () => unpackImage(d.client, 'busybox:1', join(full, 'rootfs'))],
    ] as const) {
      const e = await run().then(
        () => undefined,
        (x: unknown) => x,
      );
      assert.ok(isBrigError(e, 'ERR_NO_SPACE'), `${what}: ${String(e)}`);
      assert.ok(e.hint?.includes(full), `${what}: ${e.hint}`);
      assert.doesNotMatch(e.hint ?? '', /brig root/, what);
    }
    // nothing was left on the full file system
    assert.deepEqual(execFileSync('ls', ['-A', full], { encoding: 'utf8' }), '');
  },
);

test(
  'a layer damaged on disk: unpack names the blob; importing again repairs it',
  requires({ root: true, linux: true, commands: ['umoci', 'busybox'] }),
  async (t) => {
    const { layout } = busyboxImage();
    const d = await startDaemon(t);
    const work = tempDir(t);
    let r = await d.brig(['image', 'import', layout, 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'inspect', 'busybox:1']);
    const layer: string = JSON.parse(r.stdout)[0].layers[0].digest;
    const blob = join(d.root, 'content', 'blobs', 'sha256', layer.slice('sha256:'.length));
    const hash = () => `sha256:${createHash('sha256').update(readFileSync(blob)).digest('hex')}`;
    // flip one byte in the middle, as a disk fault would
    chmodSync(blob, 0o644);
    const fd = openSync(blob, 'r+');
    const size = readFileSync(blob).length;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, size >> 1);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, size >> 1);
    closeSync(fd);
    chmodSync(blob, 0o444);
    assert.notEqual(hash(), layer);

    const e = await unpackImage(d.client, 'busybox:1', join(work, 'rootfs')).catch((x: unknown) => x);
    assert.ok(isBrigError(e, 'ERR_CONTENT_CORRUPT'), String(e));
    assert.equal(e.details?.digest, layer);
    assert.ok(e.hint);
    r = await d.brig(['image', 'unpack', 'busybox:1', join(work, 'rootfs')]);
    assert.equal(r.code, 125);
    assert.ok(r.stderr.includes(layer), r.stderr);

    // the same source again: the damaged blob is replaced, and the image unpacks
    r = await d.brig(['image', 'import', layout, 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(hash(), layer);
    r = await d.brig(['image', 'unpack', 'busybox:1', join(work, 'rootfs')]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(join(work, 'rootfs', 'bin', 'busybox')).length > 0);
  },
);

test(
  'image import - reads the archive on stdin; images REPO[:TAG] lists that repository',
  requires({ root: true, linux: true, commands: ['umoci', 'busybox', 'tar'] }),
  async (t) => {
    const { layout } = busyboxImage();
    const d = await startDaemon(t);
    const work = tempDir(t);
    const tmp = tempDir(t); // the CLI's TMPDIR: it streams stdin to brigd, so nothing lands here
    const archive = join(work, 'bb.tar');
    execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
    const fromStdin = (file: string, args: string[]) => {
      const fd = openSync(file, 'r');
      const child = spawn(
        process.execPath,
        [BRIG, '--host', `unix://${d.socket}`, 'image', 'import', '-', ...args],
        {
          env: childEnv({ TMPDIR: tmp }),
          stdio: [fd, 'pipe', 'pipe'],
        },
      );
      closeSync(fd);
      return outputOf(child);
    };
    let r = await fromStdin(archive, ['busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Imported docker.io\/library\/busybox:1\nsha256:[0-9a-f]{64}\n$/);
    assert.deepEqual(readdirSync(tmp), []);
    writeFileSync(join(work, 'empty'), '');
    r = await fromStdin(join(work, 'empty'), []);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*stdin is empty\nHint: /);
    assert.deepEqual(readdirSync(tmp), []);

    for (const name of ['busybox:2', 'example.org/busybox:1']) {
      r = await d.brig(['image', 'tag', 'busybox:1', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    const listed = async (args: string[]) => {
      const x = await d.brig(['images', ...args]);
      assert.equal(x.code, 0, x.stderr);
      return x.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/).slice(0, 2).join(':'));
    };
    assert.deepEqual(await listed([]), ['busybox:1', 'busybox:2', 'example.org/busybox:1']);
    assert.deepEqual(await listed(['busybox']), ['busybox:1', 'busybox:2']);
    assert.deepEqual(await listed(['busybox:2']), ['busybox:2']);
    assert.deepEqual(await listed(['example.org/busybox']), ['example.org/busybox:1']);
    assert.deepEqual(await listed(['nothing']), []);
    r = await d.brig(['image', 'ls', '-q', 'nothing']);
    assert.equal(r.stdout, '');
  },
);
