/**
 * brig's registry client against Debian's docker-registry (distribution 2.8) on 127.0.0.1:
 * plain HTTP (insecure), TLS with a private CA + htpasswd basic auth, bearer tokens from a test
 * token server; interoperability both ways with skopeo and oci-image-tool.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { ContentStore } from '../../src/content/store.ts';
import { isBrigError } from '../../src/errors/errors.ts';
import type { ProgressEvent } from '../../src/registry/progress.ts';
import {
  assertNoSecret,
  brig,
  buildBusybox,
  importLayout,
  makePki,
  startRegistry,
  startTokenServer,
} from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const needs = requires({
  root: true,
  commands: ['docker-registry', 'skopeo', 'oci-image-tool', 'umoci', 'openssl', 'htpasswd'],
});

function layoutBlobs(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const hex of readdirSync(join(dir, 'blobs', 'sha256')))
    m.set(hex, readFileSync(join(dir, 'blobs', 'sha256', hex)));
  return m;
}

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { stdio: 'pipe', encoding: 'utf8' });

async function storeHasAll(content: ContentStore, layout: string): Promise<void> {
  for (const hex of layoutBlobs(layout).keys())
    assert.equal(await content.has(`sha256:${hex}`), true, `blob ${hex} pulled`);
}

describe('registry over plain HTTP (insecure)', needs, () => {
  test('brig pushes, skopeo copies out byte-identical and oci-image-tool accepts; skopeo pushes, brig pulls', async (t) => {
    const reg = await startRegistry(t);
    const bb = buildBusybox(join(tempDir(t), 'img'));
    const a = brig(t, { insecure: [reg.host] });
    const target = await importLayout(a.content, bb);

    const events: ProgressEvent[] = [];
    const res = await a.registry.push(`${reg.host}/brig/busybox:1.0`, target, {
      onProgress: (e) => events.push(e),
    });
    assert.equal(res.digest, target.digest);
    assert.ok(events.some((e) => e.kind === 'layer' && e.status === 'done'));

    const out = join(tempDir(t), 'out');
    skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/brig/busybox:1.0`, `oci:${out}:1.0`);
    const orig = layoutBlobs(bb);
    const copied = layoutBlobs(out);
    assert.deepEqual([...copied.keys()].sort(), [...orig.keys()].sort());
    for (const [hex, bytes] of orig) assert.ok(bytes.equals(copied.get(hex)!), `blob ${hex} identical`);
    execFileSync('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1.0', out], {
      stdio: 'pipe',
    });

    // the other way: skopeo pushes, brig pulls into a fresh store
    skopeo('copy', '--dest-tls-verify=false', `oci:${bb}:latest`, `docker://${reg.host}/other/bb:2`);
    const b = brig(t, { insecure: [reg.host] });
    const pulled = await b.registry.pull(`${reg.host}/other/bb:2`, {
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(pulled.manifest.digest, target.digest);
    assert.equal(pulled.reference, `${reg.host}/other/bb:2`);
    assert.deepEqual(pulled.platform, { os: 'linux', architecture: 'amd64' });
    await storeHasAll(b.content, bb);

    // pulling again fetches nothing
    const again = await b.registry.pull(`${reg.host}/other/bb:2`, {
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(again.bytesFetched, 0);
  });

  test('a mirror answers pulls for its registry (which need not be reachable)', async (t) => {
    const mirror = await startRegistry(t);
    const bb = buildBusybox(join(tempDir(t), 'img'));
    skopeo('copy', '--dest-tls-verify=false', `oci:${bb}:latest`, `docker://${mirror.host}/team/bb:3`);
    const b = brig(t, {
      insecure: [mirror.host],
      mirrors: { 'registry.invalid:5000': [`http://${mirror.host}`] },
    });
    const pulled = await b.registry.pull('registry.invalid:5000/team/bb:3', {
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(pulled.source, mirror.host);
    assert.equal(pulled.reference, 'registry.invalid:5000/team/bb:3');
    await storeHasAll(b.content, bb);
    // pushes never go to a mirror
    await assert.rejects(b.registry.push('registry.invalid:5000/team/bb:4', pulled.manifest), (e) =>
      isBrigError(e, 'ERR_REGISTRY_UNAVAILABLE'),
    );
  });

  test('a host not listed as insecure is never spoken to over plain HTTP', async (t) => {
    const reg = await startRegistry(t);
    const a = brig(t);
    await assert.rejects(
      a.registry.pull(`${reg.host}/x/y:1`, { platforms: [{ os: 'linux', architecture: 'amd64' }] }),
      (e) => isBrigError(e, 'ERR_REGISTRY_TLS') || isBrigError(e, 'ERR_REGISTRY_UNAVAILABLE'),
    );
  });

  test('unknown tags and repositories are ERR_REGISTRY_NOT_FOUND; another platform is ERR_IMAGE_PLATFORM', async (t) => {
    const reg = await startRegistry(t);
    const a = brig(t, { insecure: [reg.host] });
    const bb = buildBusybox(join(tempDir(t), 'img'));
    const target = await importLayout(a.content, bb);
    await a.registry.push(`${reg.host}/r/bb:1`, target);
    const linux = { platforms: [{ os: 'linux', architecture: 'amd64' }] };
    await assert.rejects(a.registry.pull(`${reg.host}/r/bb:nope`, linux), (e) =>
      isBrigError(e, 'ERR_REGISTRY_NOT_FOUND'),
    );
    await assert.rejects(a.registry.pull(`${reg.host}/r/none:1`, linux), (e) =>
      isBrigError(e, 'ERR_REGISTRY_NOT_FOUND'),
    );
    await assert.rejects(
      a.registry.pull(`${reg.host}/r/bb:1`, {
        platforms: [{ os: 'freebsd', architecture: 'amd64' }],
        strictPlatform: true,
      }),
      (e) => isBrigError(e, 'ERR_IMAGE_PLATFORM'),
    );
  });
});

describe('registry over TLS with a private CA and htpasswd', needs, () => {
  test('certs.d CA, login checks and stores docker-format credentials, push and pull; no secret leaks', async (t) => {
    const pki = makePki(join(tempDir(t), 'pki'));
    const password = 's3cr3t-Pa55word';
    const reg = await startRegistry(t, { tls: pki, htpasswd: { alice: password } });
    const bb = buildBusybox(join(tempDir(t), 'img'));

    // without the CA: TLS verification fails
    const noCa = brig(t);
    await assert.rejects(
      noCa.registry.pull(`${reg.host}/a/bb:1`, { platforms: [{ os: 'linux', architecture: 'amd64' }] }),
      (e) => isBrigError(e, 'ERR_REGISTRY_TLS'),
    );

    const a = brig(t, {}, { [reg.host]: pki.caCert });
    const target = await importLayout(a.content, bb);
    // anonymous: refused
    await assert.rejects(a.registry.push(`${reg.host}/a/bb:1`, target), (e) =>
      isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'),
    );
    // a wrong password is refused and not stored, and never shows in the error
    const wrong = 'not-the-password-XYZ';
    await assert.rejects(a.registry.login(reg.host, { username: 'alice', password: wrong }), (e) => {
      assert.ok(isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'));
      const text = `${(e as Error).message} ${JSON.stringify(e)} ${(e as Error).stack}`;
      assertNoSecret([text], 'alice', wrong, 'the wrong password is not in the error');
      return true;
    });
    assert.throws(() => statSync(a.authFile), /ENOENT/);

    assert.equal(await a.registry.login(`https://${reg.host}/`, { username: 'alice', password }), reg.host);
    assert.equal(statSync(a.authFile).mode & 0o777, 0o600);
    const file = JSON.parse(readFileSync(a.authFile, 'utf8'));
    assert.deepEqual(file, {
      auths: { [reg.host]: { auth: Buffer.from(`alice:${password}`).toString('base64') } },
    });

    const events: ProgressEvent[] = [];
    await a.registry.push(`${reg.host}/a/bb:1`, target, { onProgress: (e) => events.push(e) });
    assert.ok(!JSON.stringify(events).includes(password));

    const b = brig(t, {}, { [reg.host]: pki.caCert });
    writeFileSync(b.authFile, readFileSync(a.authFile), { mode: 0o600 });
    const pulled = await b.registry.pull(`${reg.host}/a/bb:1`, {
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(pulled.manifest.digest, target.digest);
    await storeHasAll(b.content, bb);

    // skopeo reads what brig pushed, with the same CA
    const certDir = join(tempDir(t), 'certs');
    mkdirSync(certDir);
    writeFileSync(join(certDir, 'ca.crt'), readFileSync(pki.caCert));
    skopeo('inspect', '--cert-dir', certDir, '--creds', `alice:${password}`, `docker://${reg.host}/a/bb:1`);

    assert.equal(await b.registry.logout(reg.host), true);
    assert.deepEqual(JSON.parse(readFileSync(b.authFile, 'utf8')), { auths: {} });
    assert.equal(await b.registry.logout(reg.host), false);
  });
});

describe('registry with bearer tokens', needs, () => {
  test('anonymous pull, authenticated push with pull,push scope, cross-repository mount', async (t) => {
    const password = 'tok-pass-123';
    const tokens = await startTokenServer(t, join(tempDir(t), 'tok'), { bob: password });
    const reg = await startRegistry(t, { token: tokens });
    const bb = buildBusybox(join(tempDir(t), 'img'));
    const a = brig(t, { insecure: [reg.host] });
    const target = await importLayout(a.content, bb);

    // anonymous push is refused
    await assert.rejects(
      a.registry.push(`${reg.host}/team/app:1`, target),
      (e) => isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED') || isBrigError(e, 'ERR_REGISTRY_DENIED'),
    );
    // wrong password: login fails
    await assert.rejects(a.registry.login(reg.host, { username: 'bob', password: 'nope' }), (e) =>
      isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'),
    );
    await a.registry.login(reg.host, { username: 'bob', password });
    await a.registry.push(`${reg.host}/team/app:1`, target);
    assert.ok(tokens.requests.some((r) => r.authorized && r.scope.includes('repository:team/app:pull,push')));

    // same registry, another repository: the blobs are mounted, not uploaded
    const events: ProgressEvent[] = [];
    const res = await a.registry.push(`${reg.host}/team/copy:1`, target, {
      mountFrom: ['team/app'],
      onProgress: (e) => events.push(e),
    });
    assert.equal(res.bytesUploaded, 0);
    assert.ok(events.some((e) => e.kind === 'layer' && e.status === 'mounted'));

    // anonymous pull works (the token server grants pull to everyone)
    const b = brig(t, { insecure: [reg.host] });
    const pulled = await b.registry.pull(`${reg.host}/team/copy:1`, {
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
    assert.equal(pulled.manifest.digest, target.digest);
    await storeHasAll(b.content, bb);
  });
});
