/**
 * `brig cp` through the built brig and brigd with a real container (root, runc/crun, conmon):
 * copies go into and out of the container's volumes and tmpfs mounts as the container sees them
 * (not the root directory's hidden mount points), links are resolved inside the container's view
 * across its mounts (a link in a volume to /etc is the container's /etc, never the host's), and a
 * read-only volume or root refuses copies in with ERR_CONTAINER_PATH_READ_ONLY, a tmpfs with
 * ERR_CONTAINER_PATH_UNREACHABLE (it is read through the container's view).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { containers } from '../../src/client/containers.ts';
import { busyboxDaemon, removeAllContainers, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

/** The error code of copying `file` into `ref:path` through the API (the CLI prints no code). */
async function copyInCode(
  d: TestDaemon,
  ref: string,
  path: string,
  file: string,
): Promise<string | undefined> {
  const tar = spawn('tar', ['-C', dirname(file), '-cf', '-', basename(file)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  try {
    await containers.copyTo(d.client, ref, path, tar.stdout);
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  } finally {
    tar.kill();
  }
}

describe('brig cp and the container mounts', needs, () => {
  test('into and out of volumes, out of tmpfs, links resolved in the container view, read-only refused', async (t) => {
    const d = await busyboxDaemon(t);
    t.after(() => removeAllContainers(d));
    const tmp = tempDir(t);
    // a name that must never appear on the host
    const hostEtc = `brig-cp-test-${process.pid}-${Date.now()}`;
    const run = await d.brig([
      'run',
      '-d',
      '--name',
      'cpm',
      '-v',
      'cpm-data:/data',
      '-v',
      'cpm-ro:/ro:ro',
      '--tmpfs',
      '/t',
      'busybox',
      'sleep',
      '1000',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const sh = async (script: string) => {
      const r = await d.brig(['exec', 'cpm', 'sh', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    await sh(
      'echo vol > /data/invol; echo tmp > /t/intmp; echo mine > /etc/marker; ln -s /etc /data/etc-link; ln -s /data /lnk',
    );

    // in: a file into the volume lands in the volume, not in the root's /data below it
    writeFileSync(join(tmp, 'in.txt'), 'copied in\n');
    const cin = await d.brig(['cp', join(tmp, 'in.txt'), 'cpm:/data/']);
    assert.equal(cin.code, 0, cin.stderr);
    assert.equal(await sh('cat /data/in.txt'), 'copied in\n');
    assert.equal(existsSync(join(d.root, 'containers', id, 'rootfs', 'data', 'in.txt')), false);
    // through a link of the root into the volume (the link crosses the mount)
    writeFileSync(join(tmp, 'in2.txt'), 'via link\n');
    assert.equal((await d.brig(['cp', join(tmp, 'in2.txt'), 'cpm:/lnk/'])).code, 0);
    assert.equal(await sh('cat /data/in2.txt'), 'via link\n');
    // not into the tmpfs (it has no directory on the host): refused, nothing written
    const intmp = await d.brig(['cp', join(tmp, 'in.txt'), 'cpm:/t/']);
    assert.equal(intmp.code, 125);
    assert.equal(await copyInCode(d, 'cpm', '/t/', join(tmp, 'in.txt')), 'ERR_CONTAINER_PATH_UNREACHABLE');
    assert.equal(await sh('ls /t'), 'intmp\n');

    // out: the volume's and the tmpfs's files
    const out = (name: string) => {
      const dir = join(tmp, name);
      mkdirSync(dir);
      return dir;
    };
    const o1 = await d.brig(['cp', 'cpm:/data/invol', out('o1')]);
    assert.equal(o1.code, 0, o1.stderr);
    assert.equal(readFileSync(join(tmp, 'o1', 'invol'), 'utf8'), 'vol\n');
    assert.equal((await d.brig(['cp', 'cpm:/t/intmp', out('o2')])).code, 0);
    assert.equal(readFileSync(join(tmp, 'o2', 'intmp'), 'utf8'), 'tmp\n');
    assert.equal((await d.brig(['cp', 'cpm:/lnk/invol', out('o3')])).code, 0);
    assert.equal(readFileSync(join(tmp, 'o3', 'invol'), 'utf8'), 'vol\n');

    // a link inside the volume to /etc is the container's /etc (which is on the root, across
    // the volume's mount point), both ways; the host's /etc is never touched
    assert.equal((await d.brig(['cp', 'cpm:/data/etc-link/marker', out('o4')])).code, 0);
    assert.equal(readFileSync(join(tmp, 'o4', 'marker'), 'utf8'), 'mine\n');
    writeFileSync(join(tmp, hostEtc), 'not for the host\n');
    assert.equal((await d.brig(['cp', join(tmp, hostEtc), 'cpm:/data/etc-link/'])).code, 0);
    assert.equal(await sh(`cat /etc/${hostEtc}`), 'not for the host\n');
    assert.equal(existsSync(`/etc/${hostEtc}`), false);

    // a read-only volume refuses, nothing is written
    const ro = await d.brig(['cp', join(tmp, 'in.txt'), 'cpm:/ro/']);
    assert.equal(ro.code, 125);
    assert.equal(await copyInCode(d, 'cpm', '/ro/', join(tmp, 'in.txt')), 'ERR_CONTAINER_PATH_READ_ONLY');
    assert.equal(await sh('ls -A /ro'), '');
    // a read-only root refuses too
    const ror = await d.brig(['run', '-d', '--name', 'cpr', '--read-only', 'busybox', 'sleep', '1000']);
    assert.equal(ror.code, 0, ror.stderr);
    const r2 = await d.brig(['cp', join(tmp, 'in.txt'), 'cpr:/']);
    assert.equal(r2.code, 125);
    assert.equal(await copyInCode(d, 'cpr', '/', join(tmp, 'in.txt')), 'ERR_CONTAINER_PATH_READ_ONLY');
    assert.equal((await d.brig(['rm', '-f', 'cpm', 'cpr'])).code, 0);
  });
});
