/**
 * A container whose release fails after its exit (a file in its writable layer made immutable
 * with chattr +i: unlink gives EPERM), and exits that happen while brigd is down:
 *   - the exit is recorded (exit code, reason, die, waiters woken) and the record is 'dead' with
 *     the real error; stop returns; rm -f retries the release and fails while the flag is set,
 *     and succeeds once it is removed;
 *   - brigd starts on a root where such a container's release fails at reconciliation;
 *   - a container that exited while brigd was down keeps its real exit time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { containers } from '../../src/client/containers.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import { busyboxDaemon, removeAllContainers, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

const needs = requires({
  root: true,
  linux: true,
  commands: ['runc', 'conmon', 'umoci', 'busybox', 'chattr'],
});

const daemon = busyboxDaemon;
const cleanup = removeAllContainers;

/** Whether chattr +i works on the filesystem of `dir` (ext4, xfs, btrfs do; tmpfs may not). */
function chattrWorks(dir: string): boolean {
  const probe = mkdtempSync(join(dir, '.chattr-probe-'));
  const f = join(probe, 'f');
  writeFileSync(f, '');
  const ok = spawnSync('chattr', ['+i', f]).status === 0;
  spawnSync('chattr', ['-i', f]);
  rmSync(probe, { recursive: true, force: true });
  return ok;
}

/** Skips (or fails under BRIG_TEST_REQUIRE_ALL=1) when the root's filesystem has no chattr +i. */
function needChattr(t: TestContext, d: TestDaemon): boolean {
  if (chattrWorks(d.root)) return true;
  const why = `chattr +i is not supported on the filesystem of ${d.root}`;
  if (process.env.BRIG_TEST_REQUIRE_ALL === '1') throw new Error(`BRIG_TEST_REQUIRE_ALL=1: ${why}`);
  t.skip(why);
  return false;
}

/** The file `name` in the container's writable layer (below the root's snapshots), once it exists. */
async function inWritableLayer(d: TestDaemon, name: string): Promise<string> {
  const walk = (dir: string, depth: number): string | undefined => {
    if (depth > 6) return undefined;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.name === name && e.isFile() && p.includes('/fs/')) return p;
      if (e.isDirectory() && !e.isSymbolicLink()) {
        const found = walk(p, depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  };
  for (let i = 0; i < 400; i++) {
    const f = existsSync(join(d.root, 'snapshots')) ? walk(join(d.root, 'snapshots'), 0) : undefined;
    if (f) return f;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name} did not appear in a writable layer below ${d.root}/snapshots`);
}

/**
 * Runs `imm`, which creates /imm-probe, makes that file immutable and runs `body`; then (even
 * when it failed) removes the flag and every container, before the daemon's own teardown.
 */
async function withImmutable(d: TestDaemon, body: (f: string) => Promise<void>): Promise<void> {
  let f: string | undefined;
  try {
    const r = await d.brig([
      'run',
      '-d',
      '--name',
      'imm',
      'busybox',
      'sh',
      '-c',
      'touch /imm-probe; sleep 1000',
    ]);
    assert.equal(r.code, 0, r.stderr);
    f = await inWritableLayer(d, 'imm-probe');
    assert.equal(spawnSync('chattr', ['+i', f]).status, 0);
    await body(f);
  } finally {
    if (f) spawnSync('chattr', ['-i', f]);
    await cleanup(d);
  }
}

type View = Awaited<ReturnType<typeof containers.inspect>>;

describe('a release that fails after the exit', needs, () => {
  test('the exit is recorded, the record is dead; stop returns; rm -f retries and says why', async (t) => {
    const d = await daemon(t);
    if (!needChattr(t, d)) return;
    await withImmutable(d, async (f) => {
      assert.equal((await d.brig(['kill', 'imm'])).code, 0);
      // waiters are woken with the exit code
      const w = await d.brig(['wait', 'imm']);
      assert.equal(w.stdout, '137\n', w.stderr);
      const c: View = await containers.inspect(d.client, 'imm');
      assert.deepEqual([c.state, c.exitCode, c.reason], ['dead', 137, 'signal']);
      assert.match(c.error ?? '', /EPERM/);
      assert.ok(c.finishedAt !== undefined);
      const ps = await d.brig(['ps', '-a', '--filter', 'name=imm']);
      assert.match(ps.stdout, /dead/i);
      // stop and restart return (the container is not running)
      assert.equal((await d.brig(['stop', 'imm'])).code, 0);
      assert.notEqual((await d.brig(['restart', 'imm'])).code, 0);
      // rm -f retries the release: refused while the flag is set, with the real cause
      await assert.rejects(containers.remove(d.client, 'imm', { force: true }), (e: unknown) => {
        assert.ok(isBrigError(e));
        assert.equal(e.code, 'ERR_RUNTIME');
        assert.match(e.message, /EPERM/);
        assert.match(e.hint ?? '', /chattr -i/);
        return true;
      });
      assert.equal((await containers.inspect(d.client, 'imm')).state, 'dead');
      assert.equal(spawnSync('chattr', ['-i', f]).status, 0);
      const rm = await d.brig(['rm', '-f', 'imm']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
      assert.equal(existsSync(f), false);
    });
  });

  test('brigd starts when a release fails at reconciliation; the container is dead', async (t) => {
    const d = await daemon(t);
    if (!needChattr(t, d)) return;
    await withImmutable(d, async (f) => {
      const pid = (await containers.inspect(d.client, 'imm')).pid!;
      await d.stop('SIGKILL');
      process.kill(pid, 'SIGKILL');
      await d.restart();
      const c: View = await containers.inspect(d.client, 'imm');
      assert.deepEqual([c.state, c.exitCode, c.reason], ['dead', 137, 'signal']);
      assert.match(c.error ?? '', /EPERM/);
      // and again with the record already dead
      await d.stop('SIGTERM');
      await d.restart();
      assert.equal((await containers.inspect(d.client, 'imm')).state, 'dead');
      assert.equal(spawnSync('chattr', ['-i', f]).status, 0);
      assert.equal((await d.brig(['rm', 'imm'])).code, 0);
    });
  });
});

describe('an exit while brigd is down', needs, () => {
  test('keeps its real exit time (the exit file), not the restart time', async (t) => {
    const d = await daemon(t);
    try {
      const r = await d.brig(['run', '-d', '--name', 'gone', 'busybox', 'sleep', '1000']);
      assert.equal(r.code, 0, r.stderr);
      const pid = (await containers.inspect(d.client, 'gone')).pid!;
      await d.stop('SIGKILL');
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      await new Promise((res) => setTimeout(res, 1500));
      const restartAt = Date.now();
      await d.restart();
      const c: View = await containers.inspect(d.client, 'gone');
      assert.deepEqual([c.state, c.exitCode], ['exited', 137]);
      assert.ok(c.finishedAt! >= killedAt - 1000, `${c.finishedAt} vs killed at ${killedAt}`);
      assert.ok(c.finishedAt! < restartAt, `${c.finishedAt} is not before the restart at ${restartAt}`);
    } finally {
      await cleanup(d);
    }
  });
});
