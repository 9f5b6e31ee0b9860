/**
 * registries.defaultRegistry through the built daemon and CLI (dist/; `npm test` builds first):
 * with a plain-HTTP docker-registry on 127.0.0.1 as the default registry, a short name means the
 * same image to pull, run, image inspect, tag, images, push, events and image rm.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { inspectImage, listImages } from '../../src/client/images.ts';
import { busyboxImage } from '../support/busybox.ts';
import { startDaemon } from '../support/daemon.ts';
import { startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

test(
  'a short name means the configured default registry in pull, run, inspect, tag, push, events and rm',
  requires({ root: true, linux: true, commands: ['docker-registry', 'umoci', 'skopeo'] }),
  async (t) => {
    const reg = await startRegistry(t);
    const { layout } = busyboxImage();
    const work = tempDir(t);
    execFileSync('cp', ['-a', layout, join(work, 'bb')]);
    execFileSync(
      'skopeo',
      ['copy', '--dest-tls-verify=false', `oci:${join(work, 'bb')}:latest`, `docker://${reg.host}/bb:latest`],
      { stdio: 'pipe' },
    );
    const d = await startDaemon(t, {
      config: { registries: { defaultRegistry: reg.host, insecure: [reg.host] } },
    });
    const full = `${reg.host}/bb:latest`;

    let r = await d.brig(['pull', '-q', 'bb']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${full}\n`);
    const pulled = await inspectImage(d.client, 'bb');
    // the tag, and the digest the registry served for it (docker's RepoDigests)
    const digestName = `${reg.host}/bb@${pulled.target.digest}`;
    assert.deepEqual(pulled.names, [full, digestName]);
    r = await d.brig(['image', 'inspect', 'bb:latest']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout)[0].id, pulled.id);

    r = await d.brig(['run', '--rm', 'bb', '/bin/echo', 'short name ran']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'short name ran\n');

    r = await d.brig(['image', 'tag', 'bb', 'team/other:2']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((await inspectImage(d.client, 'team/other:2')).names.sort(), [
      full,
      digestName,
      `${reg.host}/team/other:2`,
    ]);
    // names on the configured registry are listed in full (docker's short form is for docker.io)
    r = await d.brig(['images']);
    assert.match(r.stdout, new RegExp(`^${reg.host.replace(/\./g, '\\.')}/team/other\\s+2\\s`, 'm'));

    // push by short name goes to the default registry: skopeo finds it there
    r = await d.brig(['push', 'team/other:2']);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(
      execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/team/other:2`], {
        encoding: 'utf8',
      }),
    ) as { Digest: string };
    assert.equal(seen.Digest, pulled.target.digest);

    // the events filter reads image=bb as the same name
    const until = String(Math.ceil(Date.now() / 1000) + 1);
    r = await d.brig(['events', '--since', '0', '--until', until, '--json', '--filter', 'image=bb']);
    assert.equal(r.code, 0, r.stderr);
    const actions = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; attributes: { name?: string } });
    assert.ok(
      actions.some((e) => e.action === 'pull' && e.attributes.name === full),
      r.stdout,
    );

    // pull by digest with a short name: recorded as REPO@DIGEST on the default registry
    const byDigest = `bb@${pulled.target.digest}`;
    r = await d.brig(['pull', '-q', byDigest]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${reg.host}/${byDigest}\n`);
    assert.equal((await inspectImage(d.client, byDigest)).id, pulled.id);

    // rm of bb's last tag takes its digest name too
    for (const name of ['team/other:2', 'bb']) {
      r = await d.brig(['image', 'rm', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.deepEqual(await listImages(d.client), []);
    await assert.rejects(inspectImage(d.client, 'bb'), (e: Error & { code?: string }) => {
      return e.code === 'ERR_IMAGE_NOT_FOUND';
    });
  },
);
