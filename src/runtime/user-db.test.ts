import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { isBrigError } from '../errors/errors.ts';
import { readUserDb, resolveUser, USER_DB_MAX } from './bundle.ts';

function rootWithEtc(t: Parameters<typeof tempDir>[0]): { dir: string; rootfs: string } {
  const dir = tempDir(t);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  return { dir, rootfs };
}

test("absolute symlinks in a hostile image resolve inside its root, never to the host's files", async (t) => {
  const { dir, rootfs } = rootWithEtc(t);
  // a "host" file the link would reach if it were followed from brigd's view
  writeFileSync(join(dir, 'host-passwd'), 'hostuser:x:4242:4242::/:/bin/sh\n');
  symlinkSync(join(dir, 'host-passwd'), join(rootfs, 'etc/passwd'));
  mkdirSync(join(rootfs, 'usr/lib'), { recursive: true });
  writeFileSync(join(rootfs, 'usr/lib/group'), 'app:x:700:\n');
  symlinkSync('/usr/lib/group', join(rootfs, 'etc/group'));
  const db = await readUserDb(rootfs);
  assert.equal(db.passwd, '');
  assert.equal(db.group, 'app:x:700:\n');
  assert.throws(
    () => resolveUser('hostuser', db.passwd, db.group),
    (e) => isBrigError(e, 'ERR_USER_UNKNOWN'),
  );
});

test('a relative symlink climbing out with .. stops at the container root', async (t) => {
  const { rootfs } = rootWithEtc(t);
  writeFileSync(join(rootfs, 'passwd'), 'inside:x:9:9::/:/bin/sh\n');
  symlinkSync('../../../../../../passwd', join(rootfs, 'etc/passwd'));
  const db = await readUserDb(rootfs);
  assert.equal(db.passwd, 'inside:x:9:9::/:/bin/sh\n');
});

test('a FIFO or a directory as /etc/passwd reads as empty instead of blocking brigd', async (t) => {
  const { rootfs } = rootWithEtc(t);
  execFileSync('mkfifo', [join(rootfs, 'etc/passwd')]);
  mkdirSync(join(rootfs, 'etc/group'));
  assert.deepEqual(await readUserDb(rootfs), { passwd: '', group: '' });
});

test('an /etc/group larger than USER_DB_MAX is refused', async (t) => {
  const { rootfs } = rootWithEtc(t);
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), '');
  truncateSync(join(rootfs, 'etc/group'), USER_DB_MAX + 1);
  await assert.rejects(readUserDb(rootfs), (e) => isBrigError(e, 'ERR_USER_UNKNOWN'));
});
