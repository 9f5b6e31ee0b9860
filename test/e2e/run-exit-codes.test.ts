/**
 * docker's exit statuses for a command that cannot be started, through the built brig and brigd
 * with the real runc and conmon: 127 when it is not in the container (a name not on PATH, an
 * absolute --entrypoint that does not exist), 126 when it cannot be run (a file without the x
 * bit, a directory), for `run`, `run -d` and `start -a`; the API's error codes with the status in
 * details; the record (exited, failed-to-start, exitCode, error); nothing left on the host, and
 * no --rm container. Also the Linux hostname limit (64 bytes) at create.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { daemonTagOf } from '../../src/containers/service.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import { cgroupDirs, ownCgroup, scopeParent } from '../../src/platform/linux/cgroups.ts';
import { busyboxDaemon, removeAllContainers, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

/** What a container could leave behind: mounts, runtime states, cgroups, root snapshots. */
async function leftovers(d: TestDaemon, snapshotsBefore: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n'))
    if (line.includes(d.root)) out.push(`mount ${line.split(' ')[4]}`);
  const r = spawnSync('runc', ['--root', join(d.root, 'runtime', 'runc'), 'list', '-q'], {
    encoding: 'utf8',
  });
  for (const id of r.stdout.split('\n').filter(Boolean)) out.push(`runtime ${id}`);
  // brigd is this process's child: its cgroup is ours
  for (const dir of await cgroupDirs(scopeParent(await ownCgroup(), daemonTagOf(d.root)))) {
    let names: string[] = [];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((n) => n.isDirectory())
        .map((n) => n.name);
    } catch {}
    for (const n of names) out.push(`cgroup ${dir}/${n}`);
  }
  const snaps = readdirSync(join(d.root, 'snapshots', 'overlay', 'snapshots'));
  for (const s of snaps) if (!snapshotsBefore.includes(s)) out.push(`snapshot ${s}`);
  return out;
}

function snapshots(d: TestDaemon): string[] {
  return readdirSync(join(d.root, 'snapshots', 'overlay', 'snapshots'));
}

interface Inspected {
  id: string;
  state: string;
  exitCode?: number;
  reason?: string;
  error?: string;
}

async function inspect(d: TestDaemon, ref: string): Promise<Inspected> {
  const r = await d.brig(['inspect', ref]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Inspected | Inspected[];
  return Array.isArray(j) ? j[0]! : j;
}

const CASES: Array<{ what: string; args: string[]; status: 126 | 127; message: RegExp }> = [
  {
    what: 'a command not on PATH',
    args: ['busybox', 'nonexistent-cmd'],
    status: 127,
    message: /nonexistent-cmd: executable file not found in \$PATH/,
  },
  {
    what: 'an absolute entrypoint that does not exist',
    args: ['--entrypoint', '/no/such/entry', 'busybox'],
    status: 127,
    message: /\/no\/such\/entry: no such file or directory/,
  },
  {
    what: 'a file without the x bit',
    args: ['busybox', '/etc/passwd'],
    status: 126,
    message: /\/etc\/passwd: /,
  },
  { what: 'a directory', args: ['busybox', '/etc'], status: 126, message: /\/etc: / },
];

describe('run and start -a: a command that cannot be started exits 127 / 126', needs, () => {
  test('run, run -d, start -a: status, message, record, API code; nothing left behind', async (t) => {
    const d = await busyboxDaemon(t);
    t.after(() => removeAllContainers(d));
    // the image's layers are unpacked at the first run: they stay, a container's root must not
    assert.equal((await d.brig(['run', '--rm', 'busybox', 'true'])).code, 0);
    const before = snapshots(d);
    for (const c of CASES) {
      const name = `x${c.status}-${CASES.indexOf(c)}`;
      const r = await d.brig(['run', '--name', name, ...c.args]);
      assert.equal(r.code, c.status, `${c.what}: ${r.stderr}`);
      assert.match(r.stderr, c.message, c.what);
      // a plain message: not runc's log line nor its "create failed" wrapping
      assert.doesNotMatch(r.stderr, /level=|runc create failed|unable to start container process/, c.what);
      assert.equal(r.stdout, '');
      const rec = await inspect(d, name);
      assert.equal(rec.state, 'exited', c.what);
      assert.equal(rec.reason, 'failed-to-start', c.what);
      assert.equal(rec.exitCode, c.status, c.what);
      assert.match(rec.error ?? '', c.message, c.what);
      assert.equal((await d.brig(['wait', name])).stdout, `${c.status}\n`, c.what);
      assert.match(
        (await d.brig(['ps', '-a', '--filter', `name=${name}`])).stdout,
        /Failed to start \(12[67]\)/,
      );

      const det = await d.brig(['run', '-d', ...c.args]);
      assert.equal(det.code, c.status, `-d ${c.what}: ${det.stderr}`);
      assert.match(det.stderr, c.message);
      assert.equal(det.stdout, '', 'no id printed for a container that did not start');

      // start -a of the container that failed: the same status again
      const again = await d.brig(['start', '-a', name]);
      assert.equal(again.code, c.status, `start -a ${c.what}: ${again.stderr}`);
      assert.match(again.stderr, c.message);

      // the API: a stable code, the status in details
      await assert.rejects(d.client.request('POST', `/containers/${name}/start`), (e: unknown) => {
        assert.ok(
          isBrigError(
            e,
            c.status === 127 ? 'ERR_CONTAINER_COMMAND_NOT_FOUND' : 'ERR_CONTAINER_COMMAND_NOT_EXECUTABLE',
          ),
          String(e),
        );
        assert.equal(e.details?.exitCode, c.status);
        return true;
      });
    }
    assert.deepEqual(await leftovers(d, before), []);
    // --rm: the container is gone too, attached or detached
    const ids = (await d.brig(['ps', '-a', '-q'])).stdout;
    for (const detach of [[], ['-d']]) {
      const r = await d.brig(['run', ...detach, '--rm', 'busybox', 'nonexistent-cmd']);
      assert.equal(r.code, 127, r.stderr);
      assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, ids, `--rm ${detach.join('')}`);
    }
    assert.deepEqual(await leftovers(d, before), []);
    // the container's own exit statuses are still its own (a shell's 127 is not brig's)
    const own = await d.brig(['run', '--rm', 'busybox', 'sh', '-c', 'exit 126']);
    assert.equal(own.code, 126);
    assert.equal(own.stderr, '');
  });

  test('Linux: a hostname longer than 64 bytes is refused at create; 64 runs', async (t) => {
    const d = await busyboxDaemon(t);
    t.after(() => removeAllContainers(d));
    const of = (n: number) => `${'h'.repeat(40)}.${'b'.repeat(n - 41)}`;
    const refused = await d.brig(['create', '--name', 'long', '--hostname', of(65), 'busybox', 'true']);
    assert.equal(refused.code, 125, refused.stderr);
    assert.match(refused.stderr, /64 bytes/);
    assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '', 'nothing created');
    await assert.rejects(
      d.client.request('POST', '/containers', { body: { image: 'busybox', hostname: of(65) } }),
      (e: unknown) => isBrigError(e, 'ERR_INVALID_ARGUMENT'),
    );
    const ok = await d.brig(['run', '--rm', '--hostname', of(64), 'busybox', 'hostname']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${of(64)}\n`);
  });
});
