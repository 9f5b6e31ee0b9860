/**
 * Plans (`brig run --dry-run`) through the API of a daemon, on both platforms: against the
 * simulated FreeBSD host, and on Linux (root): the commands of a start, in order, and the bundle;
 * nothing on the host changes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatPlan } from '../../src/cli/plan-output.ts';
import { BrigClient } from '../../src/client/client.ts';
import { startDaemon } from '../../src/daemon/daemon.ts';
import type { Plan } from '../../src/plans/plan.ts';
import type { SimulatedFreeBSDHost } from '../../src/platform/fake/index.ts';
import type { FreeBSDPlatform } from '../../src/platform/freebsd/freebsd-platform.ts';
import { busyboxImage } from '../support/busybox.ts';
import { golden } from '../support/freebsd.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

test('plan on freebsd-simulated: unpack, clone, nullfs, devfs, rctl, conmon, ocijail; nothing changes', async (t) => {
  const dir = tempDir(t, 'brig-plan-');
  const root = join(dir, 'root');
  const socket = join(dir, 'brig.sock');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'sh'), '#!fake\n', { mode: 0o755 });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\n');
  const d = await startDaemon({
    root,
    socket,
    platform: 'freebsd-simulated',
    config: { policy: { devfs: { grant: ["path 'fuse' unhide"] } } },
    log: () => {},
  });
  t.after(() => d.stop());
  await d.services.images!.import(rootfs, { name: 'fbsd:latest' });
  const platform = d.services.platform as FreeBSDPlatform;
  const host = platform.runner as SimulatedFreeBSDHost;
  const before = host.state();
  const logged = host.log.length;
  const client = new BrigClient(socket);
  const plan = await client.request<Plan>('POST', '/containers/plan', {
    body: {
      image: 'fbsd:latest',
      command: ['/bin/sh', '-c', 'echo hi'],
      memory: 64 * 2 ** 20,
      pidsLimit: 50,
      name: 'p',
    },
  });
  assert.deepEqual(host.state(), before, 'a plan changes nothing on the host');
  // the daemon's runtime probe (read-only `--version`, once per daemon) is all that ran
  assert.deepEqual(
    host.log.slice(logged).filter((c) => !(c.args.length === 1 && c.args[0] === '--version')),
    [],
    'a plan runs no command on the host',
  );
  const lines = plan.commands.map((c) =>
    `${c.via ? '  ' : ''}${[c.cmd, ...c.args].join(' ')}`
      .replaceAll(root, '<ROOT>')
      .replace(/brig:root=[0-9a-f-]{36}/, 'brig:root=<OWNER>'),
  );
  const id = plan.id;
  const expect = [
    'zfs list -H -o name -t filesystem -d 1 zroot/brig',
    'zfs create -o brig:root=<OWNER> zroot/brig/1',
    'zfs get -H -o value mountpoint zroot/brig/1',
    'zfs snapshot zroot/brig/1@committed',
    'zfs set readonly=on zroot/brig/1',
    'zfs clone -o brig:root=<OWNER> zroot/brig/1@committed zroot/brig/2',
    'zfs get -H -o value mountpoint zroot/brig/2',
    `mount -t nullfs -o rw -- <ROOT>/zfs/2 <ROOT>/containers/${id}/rootfs`,
    'sysctl -n kern.racct.enable',
    `rctl -a jail:${id}:memoryuse:deny=67108864`,
    `rctl -a jail:${id}:maxproc:deny=50`,
  ];
  // the devfs ruleset (policy open + granted + close rules) is loaded first, when new
  assert.ok(lines[0]!.startsWith('devfs rule -s 1000 delset'), lines[0]);
  const devfs = lines.filter((l) => l.startsWith('devfs '));
  assert.ok(devfs.length >= 2);
  assert.deepEqual(lines.slice(devfs.length, devfs.length + expect.length), expect);
  const rest = lines.slice(devfs.length + expect.length);
  assert.match(rest[0]!, /^\/usr\/local\/bin\/conmon -c 0{64} /);
  assert.equal(
    rest[1],
    `  /usr/local/bin/ocijail --root <ROOT>/runtime/ocijail create --bundle <ROOT>/containers/${id} --pid-file <ROOT>/containers/${id}/pidfile ${id}`,
  );
  assert.equal(rest[2], `/usr/local/bin/ocijail --root <ROOT>/runtime/ocijail state ${id}`);
  assert.equal(
    rest[3],
    'jail -m jid=1 allow.noset_hostname allow.noraw_sockets allow.nochflags devfs_ruleset=1000',
  );
  assert.equal(rest[4], `/usr/local/bin/ocijail --root <ROOT>/runtime/ocijail start ${id}`);
  assert.equal(rest.length, 5);
  // the bundle
  assert.deepEqual(plan.bundle.process.args, ['/bin/sh', '-c', 'echo hi']);
  assert.equal((plan.bundle.mounts[0] as { options: string[] }).options[0], 'ruleset=1000');
  assert.ok('freebsd' in plan.bundle);
  // the text `brig run --dry-run` prints
  // (the layer's digest depends on the files' mtimes: not part of the golden)
  golden(
    'plan.txt',
    formatPlan(plan)
      .replaceAll(root, '<ROOT>')
      .replace(/sha256:[0-9a-f]{64}/g, 'sha256:<DIGEST>')
      .replace(/brig:root=[0-9a-f-]{36}/g, 'brig:root=<OWNER>'),
  );
  // the plan refuses what create refuses on FreeBSD: a hostname over 255 bytes (65 are fine there)
  await assert.rejects(
    client.request('POST', '/containers/plan', { body: { image: 'fbsd:latest', hostname: 'a'.repeat(256) } }),
    (e: { code?: string; details?: { field?: string } }) =>
      e.code === 'ERR_INVALID_ARGUMENT' && e.details?.field === 'hostname',
  );
  // a refused privilege fails the plan as it would fail run
  await assert.rejects(
    client.request('POST', '/containers/plan', { body: { image: 'nope:latest' } }),
    (e: { code?: string }) => e.code === 'ERR_IMAGE_NOT_FOUND',
  );
});

test(
  'plan on linux: the overlay/bind mount, conmon and the runtime, and the bundle; nothing mounted',
  requires({ root: true, linux: true, commands: ['conmon', 'runc', 'umoci', 'mount'] }),
  async (t) => {
    const dir = tempDir(t, 'brig-plan-linux-');
    const root = join(dir, 'root');
    const socket = join(dir, 'brig.sock');
    const d = await startDaemon({ root, socket, platform: 'linux', config: {}, log: () => {} });
    t.after(() => d.stop());
    await d.services.images!.import(busyboxImage().layout, { name: 'bb:latest' });
    const client = new BrigClient(socket);
    const plan = await client.request<Plan>('POST', '/containers/plan', {
      body: { image: 'bb:latest', command: ['/bin/echo', 'hi'], memory: 64 * 2 ** 20 },
    });
    const id = plan.id;
    const lines = plan.commands.map((c) => [c.cmd, ...c.args].join(' '));
    const rootfs = join(root, 'containers', id, 'rootfs');
    const mountLine = lines.findIndex((l) => l.startsWith('mount ') && l.endsWith(` ${rootfs}`));
    assert.ok(mountLine >= 0, lines.join('\n'));
    const conmon = plan.commands.findIndex((c) => c.cmd.endsWith('conmon'));
    assert.ok(conmon > mountLine);
    const rt = plan.commands[conmon + 1]!;
    assert.equal(rt.via, 'conmon');
    assert.deepEqual(rt.args.slice(2, 4), ['create', '--bundle']);
    const start = plan.commands[conmon + 2]!;
    assert.deepEqual(start.args.slice(2), ['start', id]);
    assert.ok('linux' in plan.bundle);
    assert.deepEqual(plan.bundle.process.args, ['/bin/echo', 'hi']);
    // nothing was mounted or created
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(join(root, 'containers')));
    assert.equal(existsSync(join(root, 'containers', id)), false);
    const keys: string[] = [];
    await d.services.snapshots!.walk((s) => {
      keys.push(s.name);
    });
    assert.ok(!keys.some((k) => k.includes(id)), 'no snapshot row for the planned container');
    // the plan refuses what create refuses on this kernel: a hostname over Linux's 64 bytes
    const long = `${'a'.repeat(60)}.${'b'.repeat(4)}`;
    await assert.rejects(
      client.request('POST', '/containers/plan', { body: { image: 'bb:latest', hostname: long } }),
      (e: { code?: string; details?: { field?: string } }) =>
        e.code === 'ERR_INVALID_ARGUMENT' && e.details?.field === 'hostname',
    );
  },
);
