/**
 * `brig cp` on the simulated FreeBSD host (built brigd and brig, `--platform freebsd-simulated`):
 * the container's root is a nullfs mount that exists only in the simulated host's state, so brigd
 * reads and writes the directory behind it (Platform.hostView). Volumes below it are not crossed
 * there (docs/runtime.md, brig cp). Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

test('freebsd-simulated: brig cp out of and into the root of a running jail', async (t) => {
  const dir = tempDir(t, 'brig-fbsd-cp-');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'sh'), '#!fake\n', { mode: 0o755 });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\n');
  const d = await startDaemon(t, { platform: 'freebsd-simulated' });
  const ok = async (args: string[]) => {
    const r = await d.brig(args);
    assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['image', 'import', rootfs, 'fbsd:latest']);
  await ok(['run', '-d', '--name', 'web', 'fbsd', '/bin/sh', '-c', 'serve']);
  const out = join(dir, 'out');
  mkdirSync(out);
  await ok(['cp', 'web:/etc/passwd', out]);
  assert.equal(readFileSync(join(out, 'passwd'), 'utf8'), 'root:*:0:0::/root:/bin/sh\n');
  writeFileSync(join(dir, 'in.txt'), 'copied in\n');
  await ok(['cp', join(dir, 'in.txt'), 'web:/etc/']);
  const back = join(dir, 'back');
  mkdirSync(back);
  await ok(['cp', 'web:/etc/in.txt', back]);
  assert.equal(readFileSync(join(back, 'in.txt'), 'utf8'), 'copied in\n');
  await ok(['rm', '-f', 'web']);
});
