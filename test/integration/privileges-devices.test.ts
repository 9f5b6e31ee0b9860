/**
 * The host's /dev inventory (src/platform/linux/dev-inventory.ts) against stat(1), and the
 * devices the default policy and a fuse grant give a Linux container on this host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { hostDeviceInventory, RUNTIME_DEFAULT_DEVICES } from '../../src/platform/linux/dev-inventory.ts';
import { parsePolicy, parsePrivileges } from '../../src/policy/index.ts';
import { decide, platformGrant } from '../../src/privileges/grant.ts';
import { requires } from '../support/require.ts';

const linux = requires({ linux: true, commands: ['stat'] });

test('every character and block device below /dev, with major/minor as stat(1) reports them', linux, () => {
  const inv = hostDeviceInventory();
  assert.ok(inv.length > 0);
  assert.ok(!inv.some((d) => d.path.startsWith('pts/') || RUNTIME_DEFAULT_DEVICES.includes(d.path)));
  for (const d of inv.slice(0, 40)) {
    const [type, maj, min, mode, uid, gid] = execFileSync('stat', [
      '-c',
      '%F|%t|%T|%a|%u|%g',
      `/dev/${d.path}`,
    ])
      .toString()
      .trim()
      .split('|');
    assert.equal(type, d.type === 'c' ? 'character special file' : 'block special file', d.path);
    assert.deepEqual(
      [
        Number.parseInt(maj!, 16),
        Number.parseInt(min!, 16),
        Number.parseInt(mode!, 8),
        Number(uid),
        Number(gid),
      ],
      [d.major, d.minor, d.mode, d.uid, d.gid],
      d.path,
    );
  }
});

test(
  'this host: the default policy shows no raw memory, serial port or disk; a fuse grant adds /dev/fuse',
  linux,
  (t) => {
    if (!existsSync('/dev/fuse')) return t.skip('no /dev/fuse on this host');
    const inv = hostDeviceInventory();
    const none = decide(parsePrivileges({}), parsePolicy({}));
    const base = platformGrant(none.grant, none.composed, { os: 'linux', inventory: inv }).devices ?? [];
    for (const d of base) {
      assert.ok(!['/dev/mem', '/dev/kmem', '/dev/port', '/dev/fuse'].includes(d.path), d.path);
      assert.ok(!/^\/dev\/ttyS\d/.test(d.path), d.path);
      assert.notEqual(d.type, 'b', d.path);
    }
    const req = parsePrivileges({ devfs: ['path fuse unhide'] });
    const fuse = decide(req, parsePolicy({ devfs: { grant: ['path fuse unhide'] } }));
    const g = platformGrant(fuse.grant, fuse.composed, { os: 'linux', inventory: inv });
    assert.deepEqual(
      g.devices?.filter((d) => !base.some((b) => b.path === d.path)).map((d) => [d.path, d.major, d.minor]),
      [['/dev/fuse', 10, 229]],
    );
    const closed = decide(
      req,
      parsePolicy({ devfs: { grant: ['path fuse unhide'], close: ['path fuse hide'] } }),
    );
    assert.ok(
      !platformGrant(closed.grant, closed.composed, { os: 'linux', inventory: inv }).devices?.some(
        (d) => d.path === '/dev/fuse',
      ),
    );
  },
);
