/**
 * `registries.tlsVerify: {HOST: false}` (docs/registries.md): brig then talks TLS to that host
 * without checking its certificate (here one signed by a CA brig does not know), and only to that
 * host; it never makes brig speak plain HTTP to it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { brig, makePki, startFaultProxy, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { layerOf, storeImage } from './pull-support.ts';

const linux = { platforms: [{ os: 'linux', architecture: 'amd64' }] };

test(
  'tlsVerify false for one host: push and pull over unverified TLS there, verification stays on elsewhere, no plain HTTP',
  requires({ commands: ['docker-registry', 'openssl'] }),
  async (t) => {
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki });
    const other = await startRegistry(t, { tls: pki });
    const plain = await startFaultProxy(t, (await startRegistry(t)).port); // plain HTTP, requests seen
    const a = brig(t, { tlsVerify: { [reg.host]: false, [plain.host]: false } });
    const img = await storeImage(a.content, [layerOf([{ name: 'f', data: 'unverified\n' }])]);

    const pushed = await a.registry.push(`${reg.host}/tls/app:1`, img);
    assert.equal(pushed.digest, img.digest);
    const b = brig(t, { tlsVerify: { [reg.host]: false } });
    assert.equal((await b.registry.pull(`${reg.host}/tls/app:1`, linux)).manifest.digest, img.digest);

    // the same certificate on a host not listed: refused
    await assert.rejects(a.registry.push(`${other.host}/tls/app:1`, img), (e) =>
      isBrigError(e, 'ERR_REGISTRY_TLS'),
    );
    // a plain-HTTP registry is not reached over HTTP because of tlsVerify
    await assert.rejects(a.registry.push(`${plain.host}/tls/app:1`, img));
    assert.deepEqual(plain.seen, []);
  },
);
