/**
 * Platform choice through the built brigd on Linux (docs/registries.md, "Pull"), from an index in
 * docker-registry that lists freebsd/amd64 first and linux/amd64 second (each with its own layer):
 *   - `brig pull` picks the linux entry (the host's), not the first one;
 *   - `brig pull --platform freebsd/amd64` picks the freebsd entry; a platform the index lacks
 *     is refused with ERR_IMAGE_PLATFORM;
 *   - `brig pull -q` prints the name alone and nothing on stderr.
 * The simulated FreeBSD host's preference for freebsd is in freebsd-pull.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon } from '../support/daemon.ts';
import { brig, startRegistry, storeIndex } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { apiPull, layerOf, storeImage } from './pull-support.ts';

test(
  'a Linux brigd pulls the linux entry of an index by default, --platform picks another, -q is silent on stderr',
  requires({ root: true, linux: true, commands: ['docker-registry'] }),
  async (t) => {
    const reg = await startRegistry(t);
    const src = brig(t, { insecure: [reg.host] });
    const entry = async (os: string) => ({
      ...(await storeImage(src.content, [layerOf([{ name: `${os}-entry`, data: `the ${os} entry\n` }])], os)),
      platform: { os, architecture: 'amd64' },
    });
    const freebsd = await entry('freebsd');
    const linux = await entry('linux');
    const name = `${reg.host}/plat/app:1`;
    await src.registry.push(name, await storeIndex(src.content, [freebsd, linux]));

    const d = await startDaemon(t, { config: { registries: { insecure: [reg.host] } } });
    const osOf = async () => {
      const r = await d.brig(['image', 'inspect', name]);
      assert.equal(r.code, 0, r.stderr);
      return [...new Set(JSON.stringify(JSON.parse(r.stdout)).match(/"os":"[^"]*"/g))];
    };

    // the host's platform by default, quietly
    let r = await d.brig(['pull', '-q', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name}\n`);
    assert.equal(r.stderr, '');
    assert.deepEqual(await osOf(), ['"os":"linux"']);
    let pulled = await apiPull(d, { reference: name });
    assert.equal(pulled.result.manifestDigest, linux.digest);
    assert.equal(pulled.result.targetDigest !== linux.digest, true, 'pulled through the index');

    // --platform: the other entry
    r = await d.brig(['pull', '-q', '--platform', 'freebsd/amd64', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name}\n`);
    assert.equal(r.stderr, '');
    assert.deepEqual(await osOf(), ['"os":"freebsd"']);
    pulled = await apiPull(d, { reference: name, platform: 'freebsd/amd64' });
    assert.equal(pulled.result.manifestDigest, freebsd.digest);
    assert.equal(pulled.result.platform, 'freebsd/amd64');

    // a platform the index does not have
    r = await d.brig(['pull', '--platform', 'linux/arm64', name]);
    assert.equal(r.code, 125);
    await assert.rejects(
      apiPull(d, { reference: name, platform: 'linux/arm64' }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_IMAGE_PLATFORM');
        return true;
      },
    );
  },
);
