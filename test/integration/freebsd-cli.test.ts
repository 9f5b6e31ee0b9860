/**
 * The built brigd and brig with `--platform freebsd-simulated`: dry run, run -d, the jail id in
 * `brig ps` and `brig inspect`, exec, stop, rm; the simulated host (persisted under the daemon's root)
 * ends as it began. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

interface HostFile {
  devfsRulesets: Record<string, unknown>;
  jails: Record<string, { jid: number; name: string }>;
  rctl: string[];
  mounts: Array<{ target: string }>;
  containers: Record<string, unknown>;
}

test('brig on freebsd-simulated: --dry-run, run -d, ps/inspect show the jail id, stop, rm', async (t) => {
  const dir = tempDir(t, 'brig-fbsd-cli-');
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'sh'), '#!fake\n', { mode: 0o755 });
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:*:0:0::/root:/bin/sh\n');
  const d = await startDaemon(t, { platform: 'freebsd-simulated' });
  const hostFile = join(d.root, 'freebsd-simulated', 'host.json');
  const host = (): HostFile => JSON.parse(readFileSync(hostFile, 'utf8')) as HostFile;
  const ok = async (args: string[]) => {
    const r = await d.brig(args);
    assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['image', 'import', rootfs, 'fbsd:latest']);
  const start = readFileSync(hostFile, 'utf8');

  const plan = await ok(['run', '--dry-run', '--memory', '64m', 'fbsd', '/bin/sh', '-c', 'serve']);
  assert.match(plan, /^zfs clone -o brig:root=[0-9a-f-]{36} zroot\/brig\/\d+@committed zroot\/brig\/\d+$/m);
  assert.match(plan, /^rctl -a jail:0{64}:memoryuse:deny=67108864$/m);
  assert.match(plan, /ocijail --root \S+ start 0{64}$/m);
  assert.match(plan, /"freebsd": \{/);
  assert.equal(readFileSync(hostFile, 'utf8'), start, 'a dry run leaves the simulated host untouched');

  const id = (
    await ok(['run', '-d', '--name', 'web', '--memory', '64m', 'fbsd', '/bin/sh', '-c', 'serve'])
  ).trim();
  const jail = Object.values(host().jails).find((j) => j.name === id);
  // the container's devfs ruleset (brig's range starts at 1000) is loaded while it exists
  assert.ok(host().devfsRulesets['1000'], 'the devfs ruleset is loaded');
  assert.ok(jail, 'the jail exists on the simulated host');
  assert.ok(host().rctl.includes(`jail:${id}:memoryuse:deny=67108864`));
  const ps = JSON.parse(await ok(['ps', '--json'])) as Array<{ id: string; jid?: number }>;
  assert.equal(ps.find((c) => c.id === id)?.jid, jail.jid);
  const table = (await ok(['ps'])).split('\n');
  const col = table[0]!.indexOf('JID');
  assert.ok(col > 0, table[0]);
  assert.equal(table[1]!.slice(col).split(/\s+/)[0], String(jail.jid));
  const inspect = JSON.parse(await ok(['inspect', 'web'])) as unknown;
  assert.match(JSON.stringify(inspect), new RegExp(`"jid":${jail.jid}\\b`));

  // exec: ocijail gets a process file (the simulated host answers exit 0)
  await ok(['exec', 'web', '/bin/sh', '-c', 'id']);

  await ok(['stop', '-t', '2', 'web']);
  const after = JSON.parse(await ok(['ps', '-a', '--json'])) as Array<{
    id: string;
    state: string;
    exitCode?: number;
  }>;
  assert.equal(after.find((c) => c.id === id)?.exitCode, 143);
  await ok(['rm', 'web']);
  const end = host();
  assert.deepEqual(end.jails, {});
  assert.deepEqual(end.rctl, []);
  assert.deepEqual(end.containers, {});
  assert.deepEqual(
    end.devfsRulesets,
    (JSON.parse(start) as HostFile).devfsRulesets,
    'the ruleset is deleted',
  );
  // what stays: the image's unpacked layer (a committed dataset, reused by the next run)
  assert.deepEqual(
    end.mounts.map((m) => m.target),
    [...(JSON.parse(start) as HostFile).mounts.map((m) => m.target), join(d.root, 'zfs', '1')],
  );
});
