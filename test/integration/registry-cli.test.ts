/**
 * brig login / push / pull / logout through the built CLI and daemon (dist/; `npm test` builds
 * first), against docker-registry over TLS (CA in certs.d beside brigd's configuration) with
 * htpasswd basic auth; what skopeo pushes, brig pulls and runs. Credentials must not show in output,
 * logs, events or answers.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { busyboxImage } from '../support/busybox.ts';
import { pastEvents, startDaemon } from '../support/daemon.ts';
import { assertNoSecret, makePki, startRegistry } from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

test(
  'brig login, push, pull and logout through brigd; no secret in output, logs or events',
  requires({
    root: true,
    linux: true,
    commands: ['docker-registry', 'umoci', 'openssl', 'htpasswd', 'skopeo'],
  }),
  async (t) => {
    const password = 'cli-S3cret-pw';
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki, htpasswd: { carol: password } });
    const d = await startDaemon(t);
    mkdirSync(join(d.dir, 'certs.d', reg.host), { recursive: true });
    cpSync(pki.caCert, join(d.dir, 'certs.d', reg.host, 'ca.crt'));
    const { layout } = busyboxImage();
    const work = tempDir(t);
    execFileSync('cp', ['-a', layout, join(work, 'bb')]);
    const name = `${reg.host}/e2e/bb:1`;

    let r = await d.brig(['image', 'import', join(work, 'bb'), name]);
    assert.equal(r.code, 0, r.stderr);

    // not logged in: refused with a hint
    r = await d.brig(['push', name]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /brig login/);

    r = await d.brig(['login', '-u', 'carol', '--password-stdin', reg.host], { input: 'wrong\n' });
    assert.equal(r.code, 125);
    r = await d.brig(['login', '-u', 'carol', '--password-stdin', reg.host], { input: `${password}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Login Succeeded/);
    const auth = join(d.root, 'auth.json');
    assert.equal(statSync(auth).mode & 0o777, 0o600);

    r = await d.brig(['push', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Pushed .*\nDigest: sha256:[0-9a-f]{64}/);
    assert.match(r.stderr, /: (Done|Already exists)/);

    // skopeo sees what brig pushed
    skopeoInspect(tempDir(t), pki.caCert, `carol:${password}`, name);

    r = await d.brig(['image', 'rm', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['pull', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Pulled ${name.replace(/[.]/g, '\\.')}`));
    assert.match(r.stderr, /Done/);
    r = await d.brig(['pull', '-q', name]);
    assert.equal(r.stdout, `${name}\n`);
    r = await d.brig(['images']);
    assert.match(r.stdout, /e2e\/bb\s+1/);

    // what skopeo pushes, brig pulls and runs
    const certDir = tempDir(t);
    cpSync(pki.caCert, join(certDir, 'ca.crt'));
    const other = `${reg.host}/e2e/from-skopeo:2`;
    execFileSync(
      'skopeo',
      [
        'copy',
        '--dest-cert-dir',
        certDir,
        '--dest-creds',
        `carol:${password}`,
        `oci:${join(work, 'bb')}:latest`,
        `docker://${other}`,
      ],
      { stdio: 'pipe' },
    );
    r = await d.brig(['pull', '-q', other]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['run', '--rm', other, '/bin/echo', 'pulled and ran']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'pulled and ran\n');

    // unknown tag: ERR_REGISTRY_NOT_FOUND through the API
    await assert.rejects(
      (async () => {
        for await (const _ of d.client.lines('POST', '/registry/pull', {
          body: { reference: `${reg.host}/e2e/bb:nope` },
        })) {
        }
      })(),
      (e: Error & { code?: string }) => e.code === 'ERR_REGISTRY_NOT_FOUND',
    );

    r = await d.brig(['logout', reg.host]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed/);
    assert.deepEqual(JSON.parse(readFileSync(auth, 'utf8')), { auths: {} });

    const events = await pastEvents(d);
    assert.match(events, /"action":"pull"/);
    assert.match(events, /"action":"push"/);
    assert.match(events, /"action":"login"/);
    assertNoSecret([events, d.logs()], 'carol', password, 'no credential in events or logs');
  },
);

function skopeoInspect(certDir: string, ca: string, creds: string, ref: string): void {
  cpSync(ca, join(certDir, 'ca.crt'));
  execFileSync('skopeo', ['inspect', '--cert-dir', certDir, '--creds', creds, `docker://${ref}`], {
    stdio: 'pipe',
  });
}
