/**
 * brigd working in a container's root filesystem while the container is hostile.
 *
 * Writes into a running container (`brig cp` in) race its processes: brigd resolves the target
 * directory the container's way and then writes below it; a process that swaps the directory
 * for a symlink to a host path in between sends the writes to the host. brigd freezes the
 * container meanwhile (ContainerService.whileFrozen).
 *
 * brigd removes a container's directory (which holds the mount point of its root filesystem)
 * with `rm -r`, which crosses mount points. A mount left below it (an unmount that failed: on
 * FreeBSD the runtime mounts volumes with nullfs in the host's namespace, and umount of a busy
 * one fails) must not make brigd delete the mount's source: a volume's or a host directory's
 * files. Here a bind mount of a "host" directory stands for it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, type TestContext, test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { busyboxImage } from '../support/busybox.ts';
import { containerHarness, type Harness } from '../support/containers.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

/** Bind-mounts a directory holding `precious` at `where`; returns the file's host path. */
function hostDirMountedAt(t: TestContext, where: string): { file: string; unmount: () => void } {
  const host = tempDir(t, 'brig-host-');
  writeFileSync(join(host, 'precious'), 'host data\n');
  mkdirSync(where, { recursive: true });
  execFileSync('mount', ['--bind', host, where]);
  let mounted = true;
  const unmount = () => {
    if (mounted) execFileSync('umount', ['-l', where]);
    mounted = false;
  };
  // (brigd may have unmounted it meanwhile)
  t.after(() => {
    try {
      if (mounted) execFileSync('umount', ['-l', where], { stdio: 'ignore' });
    } catch {}
  });
  return { file: join(host, 'precious'), unmount };
}

function containerDir(h: Harness, id: string): string {
  return join(h.root, 'containers', id);
}

describe('container directories and mounts left in them', needs, () => {
  test('rm refuses while something is mounted in the directory; the mount source is intact', async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['true'] });
    const m = hostDirMountedAt(t, join(containerDir(h, c.id), 'rootfs', 'data'));
    await assert.rejects(h.svc.remove(c.id), (e) => isBrigError(e, 'ERR_RUNTIME'));
    assert.ok(existsSync(m.file), 'the host file behind the mount was deleted');
    assert.equal(h.svc.get(c.id).id, c.id, 'the record stays while its directory cannot be removed');
    m.unmount();
    await h.svc.remove(c.id);
    assert.ok(!existsSync(containerDir(h, c.id)));
    assert.ok(existsSync(m.file));
  });

  test('reconcile leaves an orphan directory whose mount cannot be unmounted', async (t) => {
    const h = await containerHarness(t);
    const orphan = 'f'.repeat(64);
    const m = hostDirMountedAt(t, join(containerDir(h, orphan), 'rootfs', 'data'));
    // FreeBSD's umount of a busy mount fails (the Linux platform falls back to a lazy unmount)
    const unmountBelow = h.platform.unmountBelow;
    h.platform.unmountBelow = async () => {
      throw Object.assign(new Error('umount: Device busy'), { code: 'EBUSY' });
    };
    t.after(() => {
      h.platform.unmountBelow = unmountBelow;
    });
    const out = await h.svc.reconcile();
    assert.ok(existsSync(m.file), 'the host file behind the mount was deleted');
    assert.ok(!out.cleaned.includes(`dir:${orphan}`));
    h.platform.unmountBelow = unmountBelow;
    const again = await h.svc.reconcile();
    assert.ok(again.cleaned.includes(`dir:${orphan}`));
    assert.ok(!existsSync(containerDir(h, orphan)));
    assert.ok(existsSync(m.file));
  });
});

describe('brig cp into a container that swaps directories for links to the host', needs, () => {
  test('while brigd writes, the container is frozen: nothing lands in the host directory', async (t) => {
    const h = await containerHarness(t);
    const host = tempDir(t, 'brig-host-');
    const src = tempDir(t, 'brig-cp-src-');
    for (let i = 0; i < 64; i++) writeFileSync(join(src, `f${i}`), 'from brig cp\n');
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    // /t flips between a directory and a link to the host's directory (a path the container
    // does not have: the link only means something to whoever follows it on the host)
    const loop = `mkdir /t; while :; do mv /t /d; ln -s ${host} /t; rm /t; mv /d /t; done`;
    const c = await h.svc.create({ image: 'busybox', command: ['sh', '-c', loop] });
    await h.svc.start(c.id);
    let copied = 0;
    for (let i = 0; i < 60 && readdirSync(host).length === 0; i++) {
      await h.svc.copyIn(c.id, '/t', Readable.from([tar])).then(
        () => copied++,
        () => {},
      );
    }
    assert.deepEqual(readdirSync(host), [], 'brig cp wrote into the host directory');
    assert.ok(copied > 0, 'no copy into the directory went through');
    assert.equal(h.svc.get(c.id).state, 'running');
    const { rt } = await h.svc.runtime();
    assert.equal((await rt.state(c.id))?.status, 'running', 'the container is left running, not paused');
    await h.svc.remove(c.id, { force: true });
  });

  test('a container left paused by a brigd that stopped mid-copy is resumed by reconcile', async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['sleep', '600'] });
    await h.svc.start(c.id);
    const { rt } = await h.svc.runtime();
    await rt.pause(c.id, true);
    assert.equal((await rt.state(c.id))?.status, 'paused');
    const out = await h.svc.reconcile();
    assert.ok(out.stillRunning.includes(c.id));
    assert.equal((await rt.state(c.id))?.status, 'running');
    await h.svc.remove(c.id, { force: true });
  });
});

describe('a new volume gets the image files at its destination', needs, () => {
  test('a destination reached through an absolute link is resolved inside the root, never on the host', async (t) => {
    const h = await containerHarness(t);
    // the image (planted in the mounted root right before the volumes step): /data is a link to
    // /srv/data, and /hostetc a link to /etc: on the host, those names are the host's
    h.hooks.beforeStep = (s, id) => {
      if (s !== 'volumes') return;
      const root = join(containerDir(h, id), 'rootfs');
      mkdirSync(join(root, 'srv', 'data'), { recursive: true });
      writeFileSync(join(root, 'srv', 'data', 'file'), 'image data\n');
      symlinkSync('/srv/data', join(root, 'data'));
      symlinkSync('/etc', join(root, 'hostetc'));
    };
    t.after(() => {
      h.hooks.beforeStep = undefined;
    });
    const c = await h.svc.create({
      image: 'busybox',
      command: ['true'],
      mounts: [
        { kind: 'volume', value: 'v1:/data' },
        { kind: 'volume', value: 'v2:/hostetc' },
      ],
    });
    await h.svc.start(c.id);
    await h.svc.wait(c.id);
    const v1 = h.volumes.inspect('v1').mountpoint;
    const v2 = h.volumes.inspect('v2').mountpoint;
    assert.equal(readFileSync(join(v1, 'file'), 'utf8'), 'image data\n');
    // the container's /etc (busybox's passwd), not the host's
    const image = readFileSync(join(busyboxImage().rootfs, 'etc', 'passwd'), 'utf8');
    assert.equal(readFileSync(join(v2, 'passwd'), 'utf8'), image);
    assert.notEqual(image, readFileSync('/etc/passwd', 'utf8'));
    assert.deepEqual(readdirSync(v2).sort(), readdirSync(join(busyboxImage().rootfs, 'etc')).sort());
    await h.svc.remove(c.id, { volumes: true });
  });
});
