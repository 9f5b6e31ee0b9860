/**
 * devfs rulesets on the simulated FreeBSD host (brigd --platform freebsd-simulated): loaded with
 * devfs(8) at create, reloaded by the start-up reconciliation when the kernel lost them, stray
 * ones in brig's range deleted, and deleted with their last container.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { layoutWithBrig } from './privileges-support.ts';

test(
  'simulated FreeBSD: rulesets loaded at create, reconciled at start, deleted at removal',
  requires({ commands: ['umoci'] }),
  async (t) => {
    const d = await startDaemon(t, {
      platform: 'freebsd-simulated',
      config: { policy: { devfs: { grant: ["path 'bpf*' unhide"] } } },
    });
    const layout = layoutWithBrig(
      t,
      { version: 1, privileges: { devfs: ["path 'bpf*' unhide"], allow: ['raw_sockets'] } },
      (c) => {
        c.os = 'freebsd';
      },
    );
    assert.equal((await d.brig(['image', 'import', layout, 'bpf:1'])).code, 0);
    const refused = await d.client
      .request('POST', '/containers', { body: { image: 'bpf:1', command: ['true'] } })
      .catch((e: { code: string }) => e.code);
    assert.equal(refused, 'ERR_PRIVILEGE_REFUSED');
    const c = await d.client.request<{ id: string }>('POST', '/containers', {
      body: { image: 'bpf:1', command: ['true'], grants: ['allow.raw_sockets'] },
    });
    const hostFile = join(d.root, 'freebsd-simulated', 'host.json');
    const rulesets = () =>
      (
        JSON.parse(readFileSync(hostFile, 'utf8')) as {
          devfsRulesets: Record<string, Array<{ rule: string }>>;
        }
      ).devfsRulesets;
    const ls = JSON.parse((await d.brig(['devfs', 'ls', '--json'])).stdout) as Array<{
      number: number;
      rules: string[];
    }>;
    assert.deepEqual(
      ls.map((s) => s.number),
      [1000],
    );
    const loaded = rulesets()['1000'];
    assert.ok(loaded, JSON.stringify(Object.keys(rulesets())));
    assert.equal(loaded.length, ls[0]!.rules.length);
    assert.ok(JSON.stringify(loaded).includes('bpf'));

    // the kernel lost 1000 (a reboot) and holds a stray 1001 in brig's range while brigd is down
    await d.stop();
    const state = JSON.parse(readFileSync(hostFile, 'utf8')) as { devfsRulesets: Record<string, unknown> };
    state.devfsRulesets['1001'] = state.devfsRulesets['1000'];
    delete state.devfsRulesets['1000'];
    writeFileSync(hostFile, JSON.stringify(state));
    await d.restart();
    assert.deepEqual(
      Object.keys(rulesets()).filter((n) => Number(n) >= 1000),
      ['1000'],
    );
    assert.deepEqual(rulesets()['1000'], loaded);

    await d.client.request('DELETE', `/containers/${c.id}`);
    assert.deepEqual(
      Object.keys(rulesets()).filter((n) => Number(n) >= 1000),
      [],
    );
    assert.deepEqual(JSON.parse((await d.brig(['devfs', 'ls', '--json'])).stdout), []);
  },
);
