/**
 * Docker credential helpers for real: Debian's docker-credential-pass (golang-docker-credential-
 * helpers) over `pass` with a throw-away GnuPG home and password store (a key generated here
 * without a passphrase; gpg-agent is stopped at the end), against docker-registry over TLS with
 * htpasswd. Login stores through the helper and leaves no secret in any file, pulls and pushes use
 * what the helper holds, credHelpers[host] wins over credsStore, logout erases. A helper program
 * written here shows that a failing helper's output reaches the error without the secret.
 *
 * brigd and the helpers find the store through GNUPGHOME and PASSWORD_STORE_DIR in the
 * environment, as they would for an operator; this file sets them on process.env while a test
 * runs (its tests run one after the other) and restores them.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { isBrigError } from '../../src/errors/errors.ts';
import { busyboxImage } from '../support/busybox.ts';
import { pastEvents, startDaemon } from '../support/daemon.ts';
import {
  assertNoSecret,
  brig,
  buildBusybox,
  importLayout,
  makePki,
  startRegistry,
} from '../support/registry.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';

const linux = [{ os: 'linux', architecture: 'amd64' }];

/** Sets environment variables for the rest of the test. */
function setEnv(t: TestContext, vars: Record<string, string>): void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.after(() => {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

interface PassStore {
  /** What docker-credential-pass holds: server URL -> username. */
  list(): Record<string, string>;
  /** Every file of the password store and the GnuPG home, for "no secret here" checks. */
  dir: string;
}

/** A fresh GnuPG key and password store, used by docker-credential-pass through the environment. */
function passStore(t: TestContext): PassStore {
  const dir = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), 'brig-pass-'));
  const gnupg = join(dir, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg, PASSWORD_STORE_DIR: join(dir, 'store') };
  // one hook: stop the agent gpg started, then remove its home
  t.after(() => {
    try {
      execFileSync('gpgconf', ['--kill', 'all'], { env, stdio: 'ignore' });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  });
  const run = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, { env, stdio: 'pipe', encoding: 'utf8' });
  run('gpg', [
    '--batch',
    '--passphrase',
    '',
    '--quick-gen-key',
    'brig test <brig-test@invalid>',
    'default',
    'default',
    'never',
  ]);
  const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(run('gpg', ['--list-keys', '--with-colons']))?.[1];
  assert.ok(fpr, 'gpg made a key');
  run('pass', ['init', fpr]);
  setEnv(t, { GNUPGHOME: env.GNUPGHOME, PASSWORD_STORE_DIR: env.PASSWORD_STORE_DIR });
  return {
    dir,
    list: () => JSON.parse(run('docker-credential-pass', ['list'])) as Record<string, string>,
  };
}

/** Every byte of every file under `dir`, as text. */
function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out += readFileSync(join(e.parentPath, e.name), 'latin1');
  }
  return out;
}

const needs = requires({
  root: true,
  linux: true,
  commands: [
    'docker-registry',
    'openssl',
    'htpasswd',
    'umoci',
    'gpg',
    'gpgconf',
    'pass',
    'docker-credential-pass',
  ],
});

describe('docker credential helpers', needs, () => {
  test('docker-credential-pass: login stores in pass, push and pull use it, credHelpers wins, logout erases', async (t) => {
    const store = passStore(t);
    const password = 'Pass-Helper-S3cret';
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki, htpasswd: { dora: password } });
    const bb = buildBusybox(join(tempDir(t), 'img'));

    const a = brig(t, {}, { [reg.host]: pki.caCert });
    writeFileSync(a.authFile, JSON.stringify({ credsStore: 'pass' }), { mode: 0o600 });
    const target = await importLayout(a.content, bb);
    // a refused login stores nothing
    await assert.rejects(a.registry.login(reg.host, { username: 'dora', password: 'wrong' }), (e) =>
      isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'),
    );
    assert.deepEqual(store.list(), {});
    await a.registry.login(reg.host, { username: 'dora', password });
    assert.deepEqual(store.list(), { [reg.host]: 'dora' });
    assert.deepEqual(JSON.parse(readFileSync(a.authFile, 'utf8')), {
      credsStore: 'pass',
      auths: { [reg.host]: {} },
    });
    assert.ok(!allText(a.root).includes(password) && !allText(store.dir).includes(password));
    await a.registry.push(`${reg.host}/helpers/bb:1`, target);

    // the operator's docker config names the helper: brig reads it from there
    const dockerCfg = join(tempDir(t), 'config.json');
    writeFileSync(dockerCfg, JSON.stringify({ credsStore: 'pass' }));
    const b = brig(t, { extraAuthFiles: [dockerCfg] }, { [reg.host]: pki.caCert });
    const pulled = await b.registry.pull(`${reg.host}/helpers/bb:1`, { platforms: linux });
    assert.equal(pulled.manifest.digest, target.digest);

    // credHelpers[host] first: the credsStore named beside it is not installed and not asked
    const c = brig(t, {}, { [reg.host]: pki.caCert });
    writeFileSync(
      c.authFile,
      JSON.stringify({ credsStore: 'brig-test-absent', credHelpers: { [reg.host]: 'pass' } }),
    );
    assert.equal(
      (await c.registry.pull(`${reg.host}/helpers/bb:1`, { platforms: linux })).manifest.digest,
      target.digest,
    );
    // only the credsStore: a missing helper is a clear error
    const d = brig(t, {}, { [reg.host]: pki.caCert });
    writeFileSync(d.authFile, JSON.stringify({ credsStore: 'brig-test-absent' }));
    await assert.rejects(d.registry.pull(`${reg.host}/helpers/bb:1`, { platforms: linux }), (e) => {
      assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER_NOT_FOUND'), String(e));
      assert.match(e.message, /docker-credential-brig-test-absent/);
      return true;
    });

    assert.equal(await a.registry.logout(reg.host), true);
    assert.deepEqual(store.list(), {});
    assert.deepEqual(JSON.parse(readFileSync(a.authFile, 'utf8')), { credsStore: 'pass', auths: {} });
    assert.equal(await a.registry.logout(reg.host), false);
    // erased: the next brig cannot push any more
    const e2 = brig(t, { extraAuthFiles: [dockerCfg] }, { [reg.host]: pki.caCert });
    await importLayout(e2.content, bb);
    await assert.rejects(e2.registry.push(`${reg.host}/helpers/bb:2`, target), (e) =>
      isBrigError(e, 'ERR_REGISTRY_UNAUTHORIZED'),
    );
  });

  test('a failing helper program: its output in the error, the secret cut out, nothing stored', async (t) => {
    const bin = tempDir(t);
    // fails every action, printing what it was given (a secret, for store) as helpers print errors
    const helper = join(bin, 'docker-credential-brig-test-leaky');
    writeFileSync(helper, '#!/bin/sh\nin=$(cat)\necho "keyring locked, cannot $1: $in"\nexit 1\n');
    chmodSync(helper, 0o755);
    setEnv(t, { PATH: `${bin}:${process.env.PATH ?? ''}` });
    const password = 'Leaky-Helper-S3cret';
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki, htpasswd: { erin: password } });
    const a = brig(t, {}, { [reg.host]: pki.caCert });
    writeFileSync(a.authFile, JSON.stringify({ credHelpers: { [reg.host]: 'brig-test-leaky' } }));
    await assert.rejects(a.registry.login(reg.host, { username: 'erin', password }), (e) => {
      assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'), String(e));
      assert.match(
        e.message,
        /docker-credential-brig-test-leaky store .*exited with status 1: keyring locked, cannot store/,
      );
      const text = `${e.message} ${JSON.stringify(e)} ${e.stack}`;
      assert.ok(!text.includes(password) && !text.includes(Buffer.from(password).toString('base64')));
      return true;
    });
    assert.deepEqual(JSON.parse(readFileSync(a.authFile, 'utf8')), {
      credHelpers: { [reg.host]: 'brig-test-leaky' },
    });
    // a lookup through it fails the same way, naming the host
    await assert.rejects(a.registry.pull(`${reg.host}/x/y:1`, { platforms: linux }), (e) => {
      assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'), String(e));
      assert.match(e.message, new RegExp(`get for ${reg.host.replace(/\./g, '\\.')}`));
      return true;
    });
  });

  test('brig login/push/pull/logout through brigd with credsStore in the operator’s docker config', async (t) => {
    const store = passStore(t);
    const password = 'E2e-Pass-S3cret';
    const pki = makePki(join(tempDir(t), 'pki'));
    const reg = await startRegistry(t, { tls: pki, htpasswd: { fay: password } });
    const dockerCfg = join(tempDir(t), 'config.json');
    writeFileSync(dockerCfg, `${JSON.stringify({ credsStore: 'pass' })}\n`);
    const d = await startDaemon(t, { config: { registries: { extraAuthFiles: [dockerCfg] } } });
    mkdirSync(join(d.dir, 'certs.d', reg.host), { recursive: true });
    cpSync(pki.caCert, join(d.dir, 'certs.d', reg.host, 'ca.crt'));
    const work = tempDir(t);
    execFileSync('cp', ['-a', busyboxImage().layout, join(work, 'bb')]);
    const name = `${reg.host}/e2e/helper:1`;
    let r = await d.brig(['image', 'import', join(work, 'bb'), name]);
    assert.equal(r.code, 0, r.stderr);

    r = await d.brig(['login', '-u', 'fay', '--password-stdin', reg.host], { input: `${password}\n` });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Login Succeeded/);
    assert.deepEqual(store.list(), { [reg.host]: 'fay' });
    const auth = join(d.root, 'auth.json');
    assert.equal(statSync(auth).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(auth, 'utf8')), { auths: { [reg.host]: {} } });
    assert.equal(readFileSync(dockerCfg, 'utf8'), `${JSON.stringify({ credsStore: 'pass' })}\n`);

    r = await d.brig(['push', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['image', 'rm', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['pull', '-q', name]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${name}\n`);

    r = await d.brig(['logout', reg.host]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Removed/);
    assert.deepEqual(store.list(), {});
    assert.deepEqual(JSON.parse(readFileSync(auth, 'utf8')), { auths: {} });
    r = await d.brig(['image', 'rm', name]);
    assert.equal(r.code, 0, r.stderr);
    r = await d.brig(['pull', name]);
    assert.equal(r.code, 125, 'logged out: the pull is refused');

    const events = await pastEvents(d);
    assert.match(events, /"action":"login"/);
    assertNoSecret(
      [events, d.logs(), allText(d.root), readFileSync(dockerCfg, 'utf8')],
      'fay',
      password,
      'no secret in events, logs or brig’s files',
    );
  });
});
