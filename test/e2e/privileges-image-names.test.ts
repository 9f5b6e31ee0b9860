/**
 * policy.images is matched against the reference that was run (built daemon and CLI on
 * freebsd-simulated; the issue 4/5 audit's repro): another tag of the same image neither takes
 * the grant away from the name that matches nor gives it to a name that does not; a run by id
 * gets no per-image grant.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { layoutWithBrig } from './privileges-support.ts';

interface Explained {
  id: string;
  runnable: boolean;
  privileges: Array<{ item: string; granted: boolean; why: string }>;
}

test(
  'policy.images: the name run decides, not the image’s first name; by id no per-image grant',
  requires({ commands: ['umoci'] }),
  async (t) => {
    const d = await startDaemon(t, {
      platform: 'freebsd-simulated',
      config: { policy: { images: [{ match: 'docker.io/library/priv:*', allow: ['raw_sockets'] }] } },
    });
    const layout = layoutWithBrig(t, { version: 1, privileges: { allow: ['raw_sockets'] } }, (c) => {
      c.os = 'freebsd';
    });
    const ok = async (args: string[]) => {
      const r = await d.brig(args);
      assert.equal(r.code, 0, `brig ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await ok(['image', 'import', layout, 'priv:1']);
    const explain = async (ref: string) =>
      JSON.parse(await ok(['image', 'explain', '--json', ref])) as Explained;
    assert.equal((await explain('priv:1')).runnable, true);
    // a name sorting before priv:1, and one outside the pattern
    await ok(['image', 'tag', 'priv:1', 'aaa/first:1']);
    await ok(['image', 'tag', 'priv:1', 'other/thing:2']);
    const p = await explain('priv:1');
    assert.equal(p.runnable, true);
    assert.match(p.privileges[0]!.why, /policy\.images\[0\]/);
    for (const other of ['aaa/first:1', 'other/thing:2', p.id]) {
      assert.equal((await explain(other)).runnable, false, other);
    }
    // create: the same decisions
    const create = (image: string) =>
      d.client.request('POST', '/containers', { body: { image, command: ['/bin/sh'] } }).then(
        () => 'created',
        (e: { code: string; message: string }) => `${e.code} ${e.message}`,
      );
    assert.equal(await create('priv:1'), 'created');
    for (const other of ['other/thing:2', p.id]) {
      const r = await create(other);
      assert.match(r, /^ERR_PRIVILEGE_REFUSED/, other);
      // the error names what was run, never another tag
      assert.doesNotMatch(r, /aaa\/first/);
    }
  },
);
