/**
 * The FreeBSD platform and the zfs snapshotter against the simulated FreeBSD host, at their
 * interfaces: one container's whole start and removal, the exact host commands and config.json
 * (golden files in test/fixtures/freebsd/, BRIG_UPDATE_GOLDEN=1 rewrites them), and a failure
 * injected at every command of the start leaving the host exactly as it was.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import type { LoggedCommand } from '../../src/platform/fake/index.ts';
import { FreeBSDPlatform } from '../../src/platform/freebsd/freebsd-platform.ts';
import { CTR_ID, freebsdWorld, GRANT, golden, LIMITS, startSequence, teardown } from '../support/freebsd.ts';

function render(log: readonly LoggedCommand[], dir: string): string {
  return log
    .map((c) => {
      const line = [c.cmd, ...c.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');
      return `${c.via ? `  (${c.via}) ` : ''}${line}`;
    })
    .join('\n')
    .replaceAll(dir, '<TMP>')
    .replace(/brig:root=[0-9a-f-]{36}/g, 'brig:root=<OWNER>')
    .concat('\n');
}

test('freebsd: start and removal of a container: commands, bundle, jail, rctl, devfs', async (t) => {
  const w = await freebsdWorld(t);
  const before = w.host.state();
  const s = await startSequence(w);
  // the jail as the kernel holds it
  const st = w.host.state();
  const jail = Object.values(st.jails).find((j) => j.name === CTR_ID)!;
  assert.ok(jail, 'the jail exists');
  assert.equal(s.jid, jail.jid);
  assert.equal(jail.params['children.max'], 2);
  assert.equal(jail.params.securelevel, 2);
  assert.equal(jail.params['allow.raw_sockets'], false, 'ocijail grants raw sockets; brig takes them back');
  assert.equal(jail.params['allow.chflags'], false);
  assert.equal(jail.params['allow.mount.tmpfs'], true);
  // jail(8): allow.mount.<fs> works only with allow.mount and enforce_statfs < 2
  assert.equal(jail.params['allow.mount'], true);
  assert.equal(jail.params.enforce_statfs, 1);
  assert.equal(jail.params['allow.set_hostname'], false, 'on by default in jail(8); not granted');
  assert.equal(jail.params.devfs_ruleset, 1000, 'a devfs mounted inside gets the container’s rules');
  assert.equal(jail.params['allow.sysvipc'], true);
  assert.equal(jail.params['host.hostname'], 'web');
  assert.deepEqual(st.rctl.filter((r) => r.includes(CTR_ID)).sort(), [
    `jail:${CTR_ID}:maxproc:deny=100`,
    `jail:${CTR_ID}:memoryuse:deny=${512 * 2 ** 20}`,
    `jail:${CTR_ID}:pcpu:deny=150`,
  ]);
  const devfs = st.mounts.find((m) => m.fstype === 'devfs' && m.target.endsWith('/rootfs/dev'))!;
  assert.equal(devfs.ruleset, 1000);
  assert.ok(w.host.visibleDevices(devfs.target).includes('fuse'));
  assert.ok(!w.host.visibleDevices(devfs.target).includes('mem'));
  // observation
  w.host.setUsage(CTR_ID, { memoryuse: 1234567, cputime: 3 });
  const stats = await w.platform.stats(`jail:${CTR_ID}`);
  assert.equal(stats.memoryBytes, 1234567);
  assert.equal(stats.memoryLimitBytes, 512 * 2 ** 20);
  assert.equal(stats.cpuNanos, 3e9);
  assert.equal(stats.pids, 1);
  const ps = await w.platform.processes(`jail:${CTR_ID}`);
  assert.deepEqual(
    ps.map((p) => p.cmd),
    ['/bin/sh -c echo hello'],
  );
  // stop: TERM, the exit file, then removal of everything
  assert.ok(await s.rt.kill(CTR_ID, 'TERM'));
  assert.equal(readFileSync(join(w.dir, 'runtime', 'exits', CTR_ID), 'utf8'), '143');
  await teardown(s);
  const after = w.host.state();
  delete after.usage[CTR_ID]; // set by this test, not by brig
  assert.deepEqual(after, before, 'the host is exactly as before the container');
  golden('lifecycle.commands.txt', render(w.host.log, w.dir));
  golden('bundle.config.json', `${JSON.stringify(s.spec, null, 2).replaceAll(w.dir, '<TMP>')}\n`);
});

test('freebsd: a failure at every command of the start leaves the host as it was', async (t) => {
  const w0 = await freebsdWorld(t);
  await startSequence(w0);
  const steps = w0.host.log.filter((c) => !c.via).length;
  assert.ok(steps > 15, `${steps} commands`);
  for (let i = 0; i < steps; i++) {
    const w = await freebsdWorld(t);
    const before = w.host.state();
    let n = 0;
    w.host.failNext((_cmd, _args) => n++ === i, { code: 1, stderr: 'injected\n' });
    let failed = false;
    try {
      const s = await startSequence(w);
      // a command run with check: false may fail without failing the start; remove it then
      await teardown(s);
    } catch (e) {
      failed = true;
      assert.ok(isBrigError(e), `step ${i}: ${String(e)}`);
    }
    const failedCmd = w.host.log.find((c) => c.faulted);
    assert.deepEqual(
      w.host.state(),
      before,
      `after failing command ${i} (${failedCmd ? [failedCmd.cmd, ...failedCmd.args].join(' ') : '?'}, start ${failed ? 'failed' : 'succeeded'})`,
    );
    const rows: string[] = [];
    await w.snapshots.walk((s) => {
      rows.push(s.name);
    });
    assert.deepEqual(rows, ['layer'], `snapshot rows after failing command ${i}`);
  }
});

test('freebsd: limits on a host without racct: ERR_RACCT_DISABLED before anything is created', async (t) => {
  const w = await freebsdWorld(t, { racct: false });
  const before = w.host.state();
  await assert.rejects(startSequence(w), (e) => isBrigError(e, 'ERR_RACCT_DISABLED'));
  assert.deepEqual(w.host.state(), before);
  // without limits the same host runs the container
  const s = await startSequence(w, { limits: {} });
  assert.ok(s.jid);
  await teardown(s);
  assert.deepEqual(w.host.state(), before);
});

test('freebsd: rctl rules per limit; no grant means no extra privilege', async () => {
  assert.deepEqual(FreeBSDPlatform.rctlRules('x', LIMITS), [
    'jail:x:memoryuse:deny=536870912',
    'jail:x:pcpu:deny=150',
    'jail:x:maxproc:deny=100',
  ]);
  const p = new FreeBSDPlatform({ runner: { run: () => Promise.reject(new Error('no commands')) } });
  const none = await p.bundleSection({
    id: CTR_ID,
    daemonTag: 't',
    name: 'n',
    limits: {},
    grant: {},
    readOnlyRoot: false,
    terminal: false,
  });
  assert.deepEqual(none.annotations, {
    'org.freebsd.jail.vnet': 'inherit',
    'org.brig.jail.modify': 'allow.noset_hostname allow.noraw_sockets allow.nochflags devfs_ruleset=4',
  });
  assert.deepEqual(none.defaultMounts[0], {
    destination: '/dev',
    type: 'devfs',
    source: 'devfs',
    options: ['ruleset=4'],
  });
  const all = await p.bundleSection({
    id: CTR_ID,
    daemonTag: 't',
    name: 'n',
    limits: {},
    grant: { ...GRANT, allow: ['raw_sockets', 'chflags', 'no_such_thing'], vnet: true },
    readOnlyRoot: false,
    terminal: false,
  });
  assert.equal(all.annotations['org.freebsd.jail.allow.raw_sockets'], 'true');
  assert.equal(all.annotations['org.freebsd.jail.allow.no_such_thing'], undefined);
  assert.equal(all.annotations['org.freebsd.jail.vnet'], 'new');
  assert.equal(
    all.annotations['org.brig.jail.modify'],
    'allow.noset_hostname devfs_ruleset=1000 children.max=2 securelevel=2',
  );
  // allow.* that ocijail does not pass through are set with jail -m
  const fuse = await p.bundleSection({
    id: CTR_ID,
    daemonTag: 't',
    name: 'n',
    limits: {},
    grant: { allow: ['mount.fusefs', 'set_hostname'] },
    readOnlyRoot: false,
    terminal: false,
  });
  assert.equal(fuse.annotations['org.freebsd.jail.allow.mount'], 'true');
  assert.equal(fuse.annotations['org.freebsd.jail.allow.mount.fusefs'], undefined);
  assert.equal(
    fuse.annotations['org.brig.jail.modify'],
    'allow.mount.fusefs allow.noraw_sockets allow.nochflags devfs_ruleset=4',
  );
  assert.equal(
    all.defaultMounts.find((m) => m.destination === '/proc'),
    undefined,
  );
  const proc = await p.bundleSection({
    id: CTR_ID,
    daemonTag: 't',
    name: 'n',
    limits: {},
    grant: { allow: ['mount.procfs'] },
    readOnlyRoot: false,
    terminal: false,
  });
  assert.deepEqual(proc.defaultMounts.at(-1), {
    destination: '/proc',
    type: 'procfs',
    source: 'proc',
    options: ['nosuid', 'noexec'],
  });
});

test('freebsd: procfs at /proc for a container granted allow.mount.procfs', async (t) => {
  const w = await freebsdWorld(t);
  const before = w.host.state();
  const s = await startSequence(w, { grant: { allow: ['mount.procfs'] }, limits: {} });
  const m = w.host.state().mounts.find((x) => x.fstype === 'procfs');
  assert.ok(m?.target.endsWith('/rootfs/proc'));
  const jail = Object.values(w.host.state().jails).find((j) => j.name === CTR_ID)!;
  assert.equal(jail.params['allow.mount.procfs'], true);
  assert.equal(jail.params['allow.mount'], true);
  assert.equal(jail.params.enforce_statfs, 1);
  assert.equal(jail.params['allow.set_hostname'], false);
  assert.equal(jail.params.devfs_ruleset, 4);
  assert.equal(jail.params['children.max'], 0);
  await teardown(s);
  assert.deepEqual(w.host.state(), before);
});

test('freebsd: exec through ocijail with a process file (the simulated host answers)', async (t) => {
  const w = await freebsdWorld(t);
  const s = await startSequence(w, { limits: {} });
  const seen: string[][] = [];
  w.host.setExecHandler((req) => {
    seen.push(req.argv);
    return { code: 3, stdout: `in ${req.jail}\n` };
  });
  const { execProcess } = await import('../../src/runtime/oci-runtime.ts');
  assert.equal(s.rt.execNeedsProcessFile, true);
  const file = join(s.bundle, 'exec-1.json');
  writeFileSync(
    file,
    JSON.stringify(execProcess({ args: ['/bin/sh', '-c', 'id'], env: ['PATH=/bin'], tty: false })),
  );
  const args = s.rt.execArgs(CTR_ID, { args: [], env: [], tty: false, processFile: file });
  assert.deepEqual(args.slice(2), ['exec', '--process', file, CTR_ID]);
  const r = await w.platform.runExec!(s.rt.info.path, args);
  assert.equal(r.code, 3);
  assert.equal(r.stdout.toString(), `in ${CTR_ID}\n`);
  assert.deepEqual(seen, [['/bin/sh', '-c', 'id']]);
  await teardown(s);
});
