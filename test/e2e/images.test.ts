/**
 * brig image import / images / inspect / tag / export / unpack / rm / prune through the built
 * CLI and daemon, with relative paths resolved against the client's cwd.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { describeTree, diffTrees } from '../integration/images-tree.ts';
import { busyboxImage } from '../support/busybox.ts';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

test(
  'brig image import, images, inspect, tag, export, unpack, rm and prune through brigd',
  requires({ root: true, linux: true, commands: ['umoci', 'busybox', 'skopeo'] }),
  async (t) => {
    const { layout, rootfs } = busyboxImage();
    const d = await startDaemon(t);
    const work = tempDir(t);
    execFileSync('cp', ['-a', layout, join(work, 'bb')]);

    // a relative SOURCE, resolved against the client's cwd
    let r = await d.brig(['image', 'import', 'bb', 'busybox:1'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Imported docker.io\/library\/busybox:1\nsha256:[0-9a-f]{64}\n/);
    const id = r.stdout.trim().split('\n').at(-1)!;

    r = await d.brig(['images']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID/);
    assert.match(r.stdout, new RegExp(`busybox\\s+1\\s+${id.slice(7, 19)}`));
    r = await d.brig(['image', 'ls', '-q']);
    assert.equal(r.stdout, `${id.slice(7, 19)}\n`);
    // images survive a daemon restart
    await d.stop();
    await d.restart();
    r = await d.brig(['image', 'ls', '-q']);
    assert.equal(r.stdout, `${id.slice(7, 19)}\n`);

    r = await d.brig(['image', 'tag', 'busybox:1', 'example.org/tools/busybox:stable']);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['images', '--json']);
    const list = JSON.parse(r.stdout);
    assert.deepEqual(list[0].names, ['docker.io/library/busybox:1', 'example.org/tools/busybox:stable']);

    r = await d.brig(['image', 'inspect', 'example.org/tools/busybox:stable']);
    assert.equal(r.code, 0, r.stderr);
    const [info] = JSON.parse(r.stdout);
    assert.equal(info.id, id);
    assert.deepEqual(info.config.config.Cmd, ['/bin/sh']);
    assert.equal(info.brig.version, 1);
    // top-level inspect: no container has that name, so it is the image
    r = await d.brig(['inspect', 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)[0].id, id);
    r = await d.brig(['inspect', '--type', 'container', 'busybox:1']);
    assert.equal(r.code, 125);
    r = await d.brig(['inspect', 'nope']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*\nHint: /);

    r = await d.brig(['image', 'unpack', 'busybox:1', 'rootfs'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(diffTrees(describeTree(join(work, 'rootfs')), describeTree(rootfs)), []);

    r = await d.brig(['image', 'export', 'example.org/tools/busybox:stable', 'out.tar'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    const sk = JSON.parse(
      execFileSync('skopeo', ['inspect', `oci-archive:${join(work, 'out.tar')}:stable`], {
        encoding: 'utf8',
      }),
    );
    assert.equal(sk.Digest, info.manifestDigest);
    r = await d.brig(['image', 'export', 'busybox:1', 'out-dir'], { cwd: work });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(work, 'out-dir', 'oci-layout')));
    assert.match(
      readFileSync(join(work, 'out-dir', 'index.json'), 'utf8'),
      /"org.opencontainers.image.ref.name":"1"/,
    );

    // errors: code 125, message and hint
    r = await d.brig(['image', 'inspect', 'nope']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*\nHint: /);
    r = await d.brig(['image', 'import', 'missing-dir'], { cwd: work });
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*\nHint: /);
    r = await d.brig(['image', 'unpack', 'busybox:1', 'rootfs'], { cwd: work }); // not empty now
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*\nHint: /);

    r = await d.brig(['image', 'rm', 'busybox:1']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Untagged: docker.io/library/busybox:1\n');
    r = await d.brig(['image', 'rm', 'example.org/tools/busybox:stable']);
    assert.match(
      r.stdout,
      new RegExp(
        `^Untagged: example.org/tools/busybox:stable\nDeleted: ${id}\nReclaimed: \\S+ \\(3 blobs, 0 layer snapshots\\)\n$`,
      ),
    );
    r = await d.brig(['images', '--json']);
    assert.deepEqual(JSON.parse(r.stdout), []);

    // prune: an unnamed import goes
    r = await d.brig(['image', 'import', join(work, 'out.tar')]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'import', join(work, 'bb')]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'prune', '--json']);
    const pr = JSON.parse(r.stdout);
    assert.deepEqual(pr.deleted, []);
    r = await d.brig(['image', 'prune', '-a', '--json']);
    assert.deepEqual(JSON.parse(r.stdout).deleted, [id]);
    assert.deepEqual(JSON.parse((await d.brig(['images', '--json'])).stdout), []);
  },
);

test(
  'brig image rm and prune leave an image a container uses; rm -f keeps it unnamed for the container',
  requires({ root: true, linux: true }),
  async (t) => {
    const d = await startDaemon(t);
    const rootfs = join(tempDir(t), 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    let r = await d.brig(['image', 'import', '-q', rootfs, 'used:1']);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    r = await d.brig(['create', '--name', 'user-of-used', 'used:1', '/bin/sh', '-c', 'true']);
    assert.equal(r.code, 0, r.stderr);

    await assert.rejects(d.client.request('DELETE', `/images/${encodeURIComponent('used:1')}`), (e) =>
      isBrigError(e, 'ERR_IMAGE_IN_USE'),
    );
    r = await d.brig(['image', 'rm', 'used:1']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /^Error: .*\nHint: /);
    r = await d.brig(['image', 'prune', '-a', '--json']);
    assert.deepEqual(JSON.parse(r.stdout).deleted, []);
    // -f: the name goes, the image stays (unnamed) while the container exists
    r = await d.brig(['image', 'rm', '-f', 'used:1']);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse((await d.brig(['images', '--json'])).stdout);
    assert.deepEqual(
      list.map((i: { id: string; names: string[] }) => [i.id, i.names]),
      [[id, []]],
    );
    assert.equal((await d.brig(['rm', 'user-of-used'])).code, 0);
    r = await d.brig(['image', 'prune', '--json']);
    assert.deepEqual(JSON.parse(r.stdout).deleted, [id]);
  },
);
