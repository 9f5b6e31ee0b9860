/**
 * `rm -f` and `stop` while a restart is in progress (root, runc/crun, conmon): the back-off timer
 * has fired and its start holds the container's lock (held at a start step by a test hook: the
 * root snapshot being prepared, or between `runtime create` and `runtime start`). The removal must
 * end with the restarted process dead and everything released; `stop` must stop the new run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StartStep } from '../../src/containers/service.ts';
import { containerHarness, type Harness } from '../support/containers.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

// First run: exits 1 (the policy schedules a restart); the restarted run finds the marker in its
// volume and sleeps, so only a kill ends it.
const SCRIPT = 'if [ -e /v/m ]; then exec sleep 1000; fi; touch /v/m; exit 1';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the container and holds its restart at `step` (the first restart only). Returns what
 * `release()` lets go and the container's id once the restart is held there.
 */
async function holdRestartAt(h: Harness, step: StartStep, volume: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let reached!: () => void;
  const held = new Promise<void>((r) => {
    reached = r;
  });
  let starts = 0;
  h.hooks.beforeStep = async (s) => {
    if (s !== step) return;
    if (++starts !== 2) return; // the first run starts freely; the restart is held
    reached();
    await gate;
  };
  const c = await h.svc.create({
    image: 'busybox',
    command: ['sh', '-c', SCRIPT],
    restart: { name: 'always', maxRetries: 0 },
    mounts: [{ kind: 'volume', value: `${volume}:/v` }],
  });
  await h.svc.start(c.id);
  await held;
  return { id: c.id, release };
}

describe('rm -f and stop during a restart', needs, () => {
  for (const step of ['snapshot', 'start'] as const) {
    test(`rm -f while the restart is at step ${step}: the new process dies, nothing is left`, async (t) => {
      const h = await containerHarness(t);
      const { id, release } = await holdRestartAt(h, step, `rmr-${step}`);
      assert.equal(h.svc.get(id).state, 'exited');
      let pids: number[] = [];
      const seen: string[] = [];
      const unsub = h.events.subscribe((e) => {
        if (e.actorId !== id) return;
        seen.push(e.action);
        if (e.action !== 'restart') return;
        const st = h.svc.get(id).status;
        pids = [st.pid ?? 0, st.conmonPid ?? 0];
      });
      const removed = h.svc.remove(id, { force: true });
      // the removal is decided now (before the restart completes): let the restart go on
      await new Promise((r) => setTimeout(r, 50));
      release();
      await removed;
      unsub();
      assert.throws(
        () => h.svc.get(id),
        (e: Error & { code?: string }) => e.code === 'ERR_CONTAINER_NOT_FOUND',
      );
      assert.deepEqual(await h.leftovers(), []);
      const vols = await h.volumes.list();
      const v = vols.find((x) => x.name === `rmr-${step}`);
      assert.ok(v);
      // the volume is no longer in use: it can be removed
      await h.volumes.remove(`rmr-${step}`);
      // the restart went through (the hook let it go); its exit was recorded before the removal
      const [pid, conmonPid] = pids;
      assert.ok(pid && conmonPid, 'the restart completed');
      assert.deepEqual(seen.slice(seen.indexOf('restart')), ['restart', 'die', 'destroy']);
      assert.equal(alive(pid), false, `process ${pid} of the restarted run still alive`);
      // conmon exits right after writing the exit status brigd recorded
      await h.waitFor('conmon to exit', () => !alive(conmonPid));
    });
  }

  test('stop while the restart is between create and start: the new run is stopped, no restart pending', async (t) => {
    const h = await containerHarness(t);
    const { id, release } = await holdRestartAt(h, 'start', 'stopr');
    const stopped = h.svc.stop(id, { timeout: 1 });
    await new Promise((r) => setTimeout(r, 50));
    release();
    const c = await stopped;
    assert.notEqual(c.state, 'running');
    assert.equal(c.status.restartAt, undefined);
    // no restart comes later
    await new Promise((r) => setTimeout(r, 400));
    assert.notEqual(h.svc.get(id).state, 'running');
    await h.svc.remove(id);
    assert.deepEqual(await h.leftovers(), []);
  });
});
