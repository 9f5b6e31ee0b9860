/**
 * A container whose restart policy waits in back-off between exits is `restarting`, as docker
 * shows it: `brig ps` (also without -a) says `Restarting (CODE) N seconds ago`, the API's state
 * is `restarting`, `--filter status=restarting` finds it; once stopped it is `exited` again.
 * `rm` without -f refuses it (ERR_CONTAINER_RUNNING, as docker refuses a restarting container);
 * `rm -f` removes it, and `stop` then `rm` does.
 * The built brig and brigd with the real runc and conmon.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { containers } from '../../src/client/containers.ts';
import { busyboxDaemon, removeAllContainers } from '../support/daemon.ts';
import { requires } from '../support/require.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'busybox'] });

/** A brigd with a container `flappy` that exits 3 at once, under --restart always. */
async function flappy(t: TestContext) {
  const d = await busyboxDaemon(t);
  t.after(() => removeAllContainers(d));
  const r = await d.brig([
    'run',
    '-d',
    '--name',
    'flappy',
    '--restart',
    'always',
    'busybox',
    'sh',
    '-c',
    'exit 3',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return { d, r };
}

describe('ps: Restarting', needs, () => {
  test('a container in restart back-off is restarting in ps, ps --json and the status filter', async (t) => {
    const { d, r } = await flappy(t);
    // the back-off doubles (100 ms, 200 ms, ...): after the 6th restart brigd waits 6.4 s. Poll
    // until it has restarted it 6 times and exited again less than a second ago, so that the
    // reads below fall inside that wait (bounded: 600 polls). (After the 5th the wait is 3.2 s:
    // on a loaded machine the reads below took 3.0 s of it, too close.)
    let view: { state: string; exitCode?: number; restartCount: number; finishedAt?: number } | undefined;
    for (let i = 0; i < 600; i++) {
      const ps = await d.brig(['ps', '-a', '--json', '--filter', 'name=flappy']);
      assert.equal(ps.code, 0, ps.stderr);
      view = (JSON.parse(ps.stdout) as Array<typeof view>)[0];
      const fresh = Date.now() - (view?.finishedAt ?? 0) < 1000;
      if (view && view.restartCount >= 6 && view.state !== 'running' && fresh) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(view?.state, 'restarting', JSON.stringify(view));
    assert.equal(view?.exitCode, 3);
    // the reads and refusals below change nothing: asked together, they all fall in the wait
    const [listed, filtered, exitedOnes, rm, removed] = await Promise.all([
      d.brig(['ps']),
      d.brig(['ps', '-q', '--filter', 'status=restarting']),
      d.brig(['ps', '-q', '--filter', 'status=exited']),
      d.brig(['rm', 'flappy']),
      containers.remove(d.client, 'flappy').then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      ),
    ]);
    // listed without -a, as docker lists it
    const line = listed.stdout.split('\n').find((l) => l.includes('flappy'));
    assert.ok(line, 'ps without -a lists a restarting container');
    assert.match(line, /\brestarting\b/);
    assert.match(line, /Restarting \(3\) \d+ seconds? ago/);
    assert.equal(filtered.stdout, `${r.stdout.trim().slice(0, 12)}\n`);
    assert.equal(exitedOnes.stdout, '');
    // rm without -f refuses a restarting container as docker does, and leaves it restarting
    assert.equal(rm.code, 125);
    assert.equal(removed?.code, 'ERR_CONTAINER_RUNNING');
    const still = await d.brig(['ps', '-a', '--json', '--filter', 'name=flappy']);
    assert.equal((JSON.parse(still.stdout) as Array<{ state: string }>)[0]?.state, 'restarting');
    // stopped by the user: no restart pending, exited again
    assert.equal((await d.brig(['stop', 'flappy'])).code, 0);
    const after = await d.brig(['ps', '-a', '--filter', 'name=flappy']);
    assert.match(after.stdout, /Exited \(\d+\)/);
    assert.doesNotMatch(after.stdout, /Restarting|restarting/);
    assert.equal((await d.brig(['ps', '-q'])).stdout, '');
    // once stopped, rm without -f removes it
    assert.equal((await d.brig(['rm', 'flappy'])).code, 0);
    assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
  });

  test('rm -f removes a restarting container and no restart follows', async (t) => {
    const { d } = await flappy(t);
    // 4 restarts: the next waits 1.6 s; poll until it is in that wait (bounded: 600 polls)
    let view: { state: string; restartCount: number } | undefined;
    for (let i = 0; i < 600; i++) {
      const ps = await d.brig(['ps', '-a', '--json', '--filter', 'name=flappy']);
      view = (JSON.parse(ps.stdout) as Array<typeof view>)[0];
      if (view && view.restartCount >= 4 && view.state === 'restarting') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(view?.state, 'restarting', JSON.stringify(view));
    const rm = await d.brig(['rm', '-f', 'flappy']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
    // the cancelled back-off does not bring it back
    await new Promise((res) => setTimeout(res, 2000));
    assert.equal((await d.brig(['ps', '-a', '-q'])).stdout, '');
  });
});
