/**
 * Reconciliation when brigd starts while the conmon of a container that died meanwhile has not
 * yet written its exit file (conmon slow to be scheduled, here held by SIGSTOP): the status
 * conmon is about to write is the one recorded, not 255 "left no exit status". Real runc/conmon.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containerHarness } from '../support/containers.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

test(
  'a container that died while brigd was down, its conmon still finishing: its real exit code',
  needs,
  async (t) => {
    const h = await containerHarness(t);
    const c = await h.svc.create({ image: 'busybox', command: ['sleep', '1000'] });
    await h.svc.start(c.id);
    const { pid, conmonPid } = h.svc.get(c.id).status;
    assert.ok(pid && conmonPid);
    await h.svc.close();
    // "brigd" is down; the container is killed while its conmon cannot run yet
    process.kill(conmonPid, 'SIGSTOP');
    t.after(() => {
      try {
        process.kill(conmonPid, 'SIGCONT');
      } catch {}
    });
    process.kill(pid, 'SIGKILL');
    const reopened = h.reopen();
    // conmon runs again while (or after) the new service reconciles
    setTimeout(() => process.kill(conmonPid, 'SIGCONT'), 300);
    const svc = await reopened;
    const d = svc.get(c.id);
    assert.deepEqual(
      [d.state, d.status.exitCode, d.status.reason, d.status.error],
      ['exited', 137, 'signal', undefined],
    );
    assert.deepEqual(await h.leftovers(), []);
  },
);
