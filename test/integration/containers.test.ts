/**
 * The container lifecycle with real containers (root, runc/crun, conmon, cgroups): exit codes,
 * signals, OOM, pids limit, env/user/workdir, read-only root, volumes, logs, stop escalation,
 * restart policies, --rm, reconciliation after a daemon restart, and failure injected at each
 * start step leaving nothing behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Container } from '../../src/containers/container.ts';
import { START_STEPS } from '../../src/containers/service.ts';
import { BrigError, isBrigError } from '../../src/errors/errors.ts';
import { containerHarness, type Harness } from '../support/containers.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

async function run(h: Harness, command: string[], opts: Record<string, unknown> = {}): Promise<Container> {
  const c = await h.svc.create({ image: 'busybox', command, ...opts });
  await h.svc.start(c.id);
  return c;
}

async function exited(h: Harness, id: string): Promise<Container> {
  await h.svc.wait(id);
  return h.svc.get(id);
}

function logText(h: Harness, id: string): string {
  return readFileSync(h.svc.logPath(id), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').slice(3).join(' '))
    .join('\n');
}

describe('containers', needs, () => {
  test('exit code, logs, env, user, workdir; the run leaves nothing behind', async (t) => {
    const h = await containerHarness(t);
    const c = await run(h, ['sh', '-c', 'echo "$FOO $HOSTNAME"; id -u; id -g; pwd; exit 7'], {
      env: ['FOO=bar'],
      user: 'nobody',
      workdir: '/tmp',
      hostname: 'box',
    });
    const done = await exited(h, c.id);
    assert.equal(done.state, 'exited');
    assert.equal(done.status.exitCode, 7);
    assert.equal(done.status.reason, 'exited');
    assert.equal(logText(h, c.id), 'bar box\n65534\n65534\n/tmp');
    assert.deepEqual(await h.leftovers(), []);
  });

  test('an unknown user fails with ERR_USER_UNKNOWN and leaves nothing', async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['true'], user: 'nosuchuser' });
    await assert.rejects(h.svc.start(c.id), (e) => isBrigError(e, 'ERR_USER_UNKNOWN'));
    assert.equal(h.svc.get(c.id).status.reason, 'failed-to-start');
    assert.deepEqual(await h.leftovers(), []);
  });

  test('a missing binary: ERR_CONTAINER_COMMAND_NOT_FOUND (127) with the runtime message, reason failed-to-start', async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['/no/such/bin'] });
    await assert.rejects(h.svc.start(c.id), (e) => {
      assert.ok(isBrigError(e, 'ERR_CONTAINER_COMMAND_NOT_FOUND'));
      assert.equal((e as BrigError).details?.exitCode, 127);
      assert.match((e as BrigError).message, /no such file/);
      return true;
    });
    const got = h.svc.get(c.id);
    assert.equal(got.state, 'exited');
    assert.equal(got.status.reason, 'failed-to-start');
    assert.equal(got.status.exitCode, 127);
    assert.match(got.status.error ?? '', /no such file/);
    assert.deepEqual(await h.leftovers(), []);
  });

  test('kill: signal exit is 128+n with reason signal; stop escalates to SIGKILL after the timeout', async (t) => {
    const h = await containerHarness(t);
    // pid 1 ignores SIGTERM without a handler: stop must escalate
    const c = await run(h, ['sleep', '1000'], { stopTimeout: 1 });
    const stopped = await h.svc.stop(c.id);
    assert.equal(stopped.status.exitCode, 137);
    assert.equal(stopped.status.reason, 'signal');
    // a trap: the stop signal alone suffices
    const c2 = await run(h, ['sh', '-c', 'trap "exit 3" TERM; echo ready; while :; do sleep 0.05; done']);
    await h.waitFor('the trap', () => logText(h, c2.id).includes('ready'));
    const s2 = await h.svc.stop(c2.id, { timeout: 60 });
    assert.equal(s2.status.exitCode, 3);
    assert.equal(s2.status.reason, 'exited');
    const c3 = await run(h, ['sleep', '1000']);
    await h.svc.kill(c3.id, 'SIGKILL');
    const k = await exited(h, c3.id);
    assert.equal(k.status.exitCode, 137);
    assert.equal(k.status.reason, 'signal');
    assert.deepEqual(await h.leftovers(), []);
  });

  test('OOM kill under --memory is recorded as oom-killed', async (t) => {
    const h = await containerHarness(t);
    const c = await run(h, ['sh', '-c', 'a=xxxxxxxxxxxxxxxx; while :; do a=$a$a; done'], {
      memory: 16 * 1024 * 1024,
    });
    const done = await exited(h, c.id);
    assert.equal(done.status.reason, 'oom-killed');
    assert.equal(done.status.exitCode, 137);
  });

  test('--pids-limit caps the processes; stats and top see them', async (t) => {
    const h = await containerHarness(t);
    // the inner shell dies at the refused fork; its sleeps stay, and the outer shell goes on
    const inner = 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 1000 & done; wait';
    const c = await run(h, ['sh', '-c', `sh -c '${inner}'; echo after; sleep 1000`], { pidsLimit: 8 });
    await h.waitFor('the inner shell to fail', () => logText(h, c.id).includes('after'));
    assert.match(logText(h, c.id), /fork/);
    const st = await h.svc.stats(c.id);
    assert.ok(st.pids <= 8 && st.pids >= 7, `pids ${st.pids}`);
    assert.ok(st.memoryBytes > 0);
    const top = await h.svc.top(c.id);
    assert.ok(top.some((p) => p.cmd.startsWith('sleep')));
    await h.svc.remove(c.id, { force: true });
    assert.deepEqual(await h.leftovers(), []);
  });

  test('read-only root; tmpfs writable; a volume outlives its container', async (t) => {
    const h = await containerHarness(t);
    const ro = await run(
      h,
      ['sh', '-c', 'touch /x 2>/dev/null && exit 0; echo ok > /tmp/y && cat /tmp/y && exit 9'],
      {
        readOnly: true,
        mounts: [{ kind: 'tmpfs', value: '/tmp' }],
      },
    );
    const r = await exited(h, ro.id);
    assert.equal(r.status.exitCode, 9);
    const w = await run(h, ['sh', '-c', 'echo kept > /data/f'], {
      mounts: [{ kind: 'volume', value: 'data:/data' }],
    });
    assert.equal((await exited(h, w.id)).status.exitCode, 0);
    await h.svc.remove(w.id);
    const rd = await run(h, ['cat', '/data/f'], { mounts: [{ kind: 'volume', value: 'data:/data:ro' }] });
    assert.equal((await exited(h, rd.id)).status.exitCode, 0);
    assert.equal(logText(h, rd.id), 'kept');
  });

  test('--rm removes the container and its directory on exit', async (t) => {
    const h = await containerHarness(t);
    const c = await run(h, ['true'], { autoRemove: true });
    await h.waitFor('removal', () => !h.svc.list({ all: true }).some((x) => x.id === c.id));
    assert.equal(existsSync(join(h.root, 'containers', c.id)), false);
    assert.deepEqual(await h.leftovers(), []);
  });

  test('restart policies: on-failure:N stops after N, always restarts, unless-stopped honours stop, no does nothing', async (t) => {
    const h = await containerHarness(t);
    const onf = await run(h, ['sh', '-c', 'exit 3'], { restart: { name: 'on-failure', maxRetries: 2 } });
    const no = await run(h, ['sh', '-c', 'exit 3'], { restart: { name: 'no', maxRetries: 0 } });
    const always = await run(h, ['true'], { restart: { name: 'always', maxRetries: 0 } });
    const unless = await run(h, ['sleep', '0.1'], { restart: { name: 'unless-stopped', maxRetries: 0 } });
    await h.waitFor('on-failure to give up', () => {
      const c = h.svc.get(onf.id);
      return c.state === 'exited' && c.status.restartCount === 2 && c.status.restartAt === undefined && c;
    });
    await h.waitFor('always to restart twice', () => h.svc.get(always.id).status.restartCount >= 2);
    await h.waitFor('unless-stopped to restart', () => h.svc.get(unless.id).status.restartCount >= 1);
    await h.svc.stop(unless.id);
    await h.svc.stop(always.id);
    const n = h.svc.get(unless.id).status.restartCount;
    const onDone = await h.svc.wait(onf.id);
    assert.equal(onDone.exitCode, 3);
    assert.equal(h.svc.get(no.id).status.restartCount, 0);
    assert.equal(h.svc.get(no.id).state, 'exited');
    // stopped: no restart is pending
    assert.equal(h.svc.get(unless.id).status.restartAt, undefined);
    assert.equal(h.svc.get(unless.id).status.restartCount, n);
  });

  test('daemon restart: running containers stay, one that died meanwhile gets its real exit code', async (t) => {
    const h = await containerHarness(t);
    const keep = await run(h, ['sleep', '1000']);
    const dies = await run(h, ['sh', '-c', 'read x; exit 42'], { stdin: true });
    const pidKeep = h.svc.get(keep.id).status.pid!;
    await h.svc.close();
    // while "brigd" is down: the second container exits by itself (kill its sh with a signal it
    // handles by default: it is not pid 1's default-ignored one, SIGKILL from outside)
    process.kill(h.svc.get(dies.id).status.pid!, 'SIGKILL');
    await h.waitFor('the exit file', () => existsSync(join(h.root, 'runtime', 'exits', dies.id)));
    const svc = await h.reopen();
    const k = svc.get(keep.id);
    assert.equal(k.state, 'running');
    assert.equal(k.status.pid, pidKeep);
    const d = svc.get(dies.id);
    assert.equal(d.state, 'exited');
    assert.equal(d.status.exitCode, 137);
    assert.equal(d.status.reason, 'signal');
    // and the new service still learns of exits
    await svc.kill(keep.id, 'SIGKILL');
    assert.equal((await exited(h, keep.id)).status.exitCode, 137);
    assert.deepEqual(await h.leftovers(), []);
  });

  test('daemon restart: `always` restarts a container the user stopped, `unless-stopped` does not', async (t) => {
    const h = await containerHarness(t);
    const always = await run(h, ['sleep', '1000'], { restart: { name: 'always', maxRetries: 0 } });
    const unless = await run(h, ['sleep', '1000'], { restart: { name: 'unless-stopped', maxRetries: 0 } });
    await h.svc.stop(always.id, { timeout: 0 });
    await h.svc.stop(unless.id, { timeout: 0 });
    // while brigd runs, a stopped `always` container stays stopped
    assert.equal(h.svc.get(always.id).status.restartAt, undefined);
    await h.svc.close();
    const svc = await h.reopen();
    assert.equal(svc.get(unless.id).state, 'exited');
    assert.equal(svc.get(unless.id).status.restartAt, undefined);
    await h.waitFor('`always` to run again', () => svc.get(always.id).state === 'running');
    assert.equal(svc.get(always.id).status.stoppedByUser, undefined);
    assert.equal(svc.get(unless.id).state, 'exited');
    await svc.stop(always.id, { timeout: 0 });
    assert.equal(svc.get(always.id).state, 'exited');
    assert.deepEqual(await h.leftovers(), []);
  });

  test('brigd dying in the middle of a start: the next brigd removes what the start left', async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['sleep', '1000'] });
    let reached!: () => void;
    const atStart = new Promise<void>((r) => {
      reached = r;
    });
    // the start hangs right before `runtime start`: runtime state, mounts, cgroup all exist
    h.hooks.beforeStep = (s) => {
      if (s !== 'start') return undefined;
      reached();
      return new Promise<void>(() => {});
    };
    void h.svc.start(c.id).catch(() => {});
    await atStart;
    assert.notDeepEqual(await h.leftovers(), []);
    h.hooks.beforeStep = undefined;
    const dying = h.svc;
    // the dead brigd's watcher must not keep this test process alive (its hung start never ends)
    void dying.close();
    const svc = await h.reopen();
    assert.deepEqual(await h.leftovers(), []);
    assert.notEqual(svc.get(c.id).state, 'running');
    await svc.start(c.id);
    assert.equal(svc.get(c.id).state, 'running');
  });

  for (const step of START_STEPS) {
    test(`failure injected before step ${step} leaves nothing behind`, async (t) => {
      const h = await containerHarness(t);
      const c = await h.svc.create({ image: 'busybox', command: ['sleep', '1000'] });
      h.hooks.beforeStep = (s) => {
        if (s === step) throw new BrigError('ERR_INTERNAL', `injected before ${s}`);
      };
      await assert.rejects(h.svc.start(c.id), (e) => isBrigError(e, 'ERR_INTERNAL'));
      assert.equal(h.svc.get(c.id).status.reason, 'failed-to-start');
      assert.deepEqual(await h.leftovers(), []);
      h.hooks.beforeStep = undefined;
      await h.svc.start(c.id);
      assert.equal(h.svc.get(c.id).state, 'running');
    });
  }
});
