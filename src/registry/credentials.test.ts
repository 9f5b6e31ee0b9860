import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
import { BrigError, isBrigError } from '../errors/errors.ts';
import type { CommandRunner, RunOptions } from '../platform/exec.ts';
import { CredentialStore, hostOfKey } from './credentials.ts';

test('hostOfKey folds the spellings docker writes', () => {
  assert.equal(hostOfKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(hostOfKey('registry.example:5000'), 'registry.example:5000');
  assert.equal(hostOfKey('https://Registry.Example/'), 'registry.example');
});

test('set/get/remove in docker config.json format, mode 0600, other keys kept', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sub', 'auth.json');
  const store = new CredentialStore(path);
  assert.equal(await store.get('reg.example'), undefined);
  await store.set('reg.example', { username: 'u', password: 'p:w' });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
    auths: { 'reg.example': { auth: Buffer.from('u:p:w').toString('base64') } },
  });
  assert.deepEqual(await store.get('reg.example'), { username: 'u', password: 'p:w' });
  // a file docker wrote, with extra keys
  writeFileSync(
    path,
    JSON.stringify({
      auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('d:x').toString('base64') } },
      psFormat: 'table {{.ID}}',
    }),
  );
  assert.deepEqual(await store.get('docker.io'), { username: 'd', password: 'x' });
  await store.set('index.docker.io', { username: 'e', password: 'y' });
  const f = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(f.psFormat, 'table {{.ID}}');
  assert.deepEqual(Object.keys(f.auths), ['docker.io']);
  assert.equal(await store.remove('docker.io'), true);
  assert.equal(await store.remove('docker.io'), false);
});

test('extra files are read after brig’s own, never written; a corrupt own file is an error without its content', async (t) => {
  const dir = tempDir(t);
  const extra = join(dir, 'docker.json');
  writeFileSync(extra, JSON.stringify({ auths: { 'reg.example': { username: 'x', password: 'y' } } }));
  const store = new CredentialStore(join(dir, 'auth.json'), [extra, join(dir, 'missing.json')]);
  assert.deepEqual(await store.get('reg.example'), { username: 'x', password: 'y' });
  writeFileSync(join(dir, 'auth.json'), '{"auths": {"h": {"auth": "c2VjcmV0OnNlY3JldA=="}');
  await assert.rejects(
    store.get('h'),
    (e: Error & { code?: string }) => e.code === 'ERR_CREDENTIALS' && !e.message.includes('c2VjcmV0'),
  );
});

/**
 * In-memory docker credential helpers behind a CommandRunner: `stores[name]` is the keychain of
 * `docker-credential-NAME` (server URL -> {Username, Secret}); names not in `stores` are not
 * installed. Every call is recorded.
 */
function fakeHelpers(stores: Record<string, Map<string, { Username: string; Secret: string }>>) {
  const calls: { cmd: string; args: readonly string[]; input?: string }[] = [];
  const runner: CommandRunner = {
    async run(cmd, args, opts: RunOptions = {}) {
      const input = opts.input?.toString();
      calls.push({ cmd, args, ...(input !== undefined ? { input } : {}) });
      const name = cmd.replace(/^docker-credential-/, '');
      const store = stores[name];
      if (!store) throw new BrigError('ERR_COMMAND_NOT_FOUND', `${cmd} is not installed`);
      const ok = (s: string) => ({ code: 0, signal: null, stdout: Buffer.from(s), stderr: Buffer.alloc(0) });
      const notFound = { ...ok('credentials not found in native keychain\n'), code: 1 };
      switch (args[0]) {
        case 'get': {
          const e = store.get(input ?? '');
          return e ? ok(JSON.stringify({ ServerURL: input, ...e })) : notFound;
        }
        case 'store': {
          const j = JSON.parse(input ?? '{}') as { ServerURL: string; Username: string; Secret: string };
          store.set(j.ServerURL, { Username: j.Username, Secret: j.Secret });
          return ok('');
        }
        case 'erase':
          return store.delete(input ?? '') ? ok('') : notFound;
        case 'list':
          return ok(JSON.stringify(Object.fromEntries([...store].map(([k, v]) => [k, v.Username]))));
        default:
          return { ...ok(`Unknown credential action \`${args[0]}\``), code: 1 };
      }
    },
  };
  return { runner, calls };
}

const entry = (u: string, p: string) => ({ auth: Buffer.from(`${u}:${p}`).toString('base64') });

test('lookup order within a file: credHelpers[host], else credsStore, then auths; then the next file', async (t) => {
  const dir = tempDir(t);
  const own = join(dir, 'auth.json');
  const extra = join(dir, 'docker.json');
  const one = new Map([['reg.a', { Username: 'from-one', Secret: 's1' }]]);
  const two = new Map([['reg.b', { Username: 'from-two', Secret: 's2' }]]);
  const three = new Map([['reg.d', { Username: 'from-three', Secret: 's3' }]]);
  const { runner, calls } = fakeHelpers({ one, two, three });
  writeFileSync(
    own,
    JSON.stringify({
      credHelpers: { 'https://reg.a/': 'one', 'reg.c': 'one' },
      credsStore: 'two',
      auths: { 'reg.a': entry('file-a', 'x'), 'reg.b': entry('file-b', 'x'), 'reg.c': entry('file-c', 'x') },
    }),
  );
  writeFileSync(extra, JSON.stringify({ credsStore: 'three', auths: { 'reg.e': entry('extra-e', 'x') } }));
  const store = new CredentialStore(own, [extra], { runner, helperCacheMs: 0 });
  // credHelpers wins over credsStore and auths
  assert.deepEqual(await store.get('reg.a'), { username: 'from-one', password: 's1' });
  // other hosts: credsStore
  assert.deepEqual(await store.get('reg.b'), { username: 'from-two', password: 's2' });
  // credHelpers names a helper without an entry: credsStore is NOT asked (docker), auths is
  calls.length = 0;
  assert.deepEqual(await store.get('reg.c'), { username: 'file-c', password: 'x' });
  assert.ok(calls.every((c) => c.cmd === 'docker-credential-one'));
  // nothing in brig's own file: the extra file's helper, then its auths
  assert.deepEqual(await store.get('reg.d'), { username: 'from-three', password: 's3' });
  assert.deepEqual(await store.get('reg.e'), { username: 'extra-e', password: 'x' });
  assert.equal(await store.get('reg.f'), undefined);
  // the action is the only argument, always
  assert.ok(calls.every((c) => c.args.length === 1));
});

test('helpers: docker.io under docker’s key or another spelling (list), <token> identity tokens, answers cached', async (t) => {
  const dir = tempDir(t);
  const own = join(dir, 'auth.json');
  const keys = new Map([
    ['https://index.docker.io/v1/', { Username: '<token>', Secret: 'refresh-tok' }],
    ['https://reg.example:5000/v2/', { Username: 'u', Secret: 'p' }],
  ]);
  const { runner, calls } = fakeHelpers({ pass: keys });
  writeFileSync(own, JSON.stringify({ credsStore: 'pass' }));
  const store = new CredentialStore(own, [], { runner });
  assert.deepEqual(await store.get('index.docker.io'), {
    username: '<token>',
    password: '',
    identityToken: 'refresh-tok',
  });
  assert.deepEqual(calls[0], {
    cmd: 'docker-credential-pass',
    args: ['get'],
    input: 'https://index.docker.io/v1/',
  });
  assert.deepEqual(await store.get('reg.example:5000'), { username: 'u', password: 'p' });
  const n = calls.length;
  // within helperCacheMs the helper is not asked again, also not by concurrent lookups
  await Promise.all([store.get('reg.example:5000'), store.get('reg.example:5000'), store.get('docker.io')]);
  assert.equal(calls.length, n);
  // a miss is cached too, a login forgets it
  assert.equal(await store.get('new.example'), undefined);
  await store.set('new.example', { username: 'n', password: 'q' });
  assert.deepEqual(await store.get('new.example'), { username: 'n', password: 'q' });
});

test('login through credsStore/credHelpers: the secret goes to the helper on stdin, the file gets an empty entry; logout erases', async (t) => {
  const dir = tempDir(t);
  const own = join(dir, 'auth.json');
  const extra = join(dir, 'docker.json');
  const pass = new Map<string, { Username: string; Secret: string }>();
  const ecr = new Map<string, { Username: string; Secret: string }>();
  const { runner, calls } = fakeHelpers({ pass, 'ecr-login': ecr });
  // the operator's docker config names the helpers; brig's own file has an old plain entry
  writeFileSync(extra, JSON.stringify({ credsStore: 'pass', credHelpers: { 'ecr.example': 'ecr-login' } }));
  writeFileSync(own, JSON.stringify({ auths: { 'reg.example': entry('old', 'old-pw') } }), { mode: 0o600 });
  const store = new CredentialStore(own, [extra], { runner });
  const secret = 'Login-S3cret';
  await store.set('reg.example', { username: 'u', password: secret });
  await store.set('ecr.example', { username: 'AWS', password: 'ecr-token' });
  await store.set('docker.io', { username: 'd', password: 'hub-pw' });
  assert.deepEqual(Object.fromEntries(pass), {
    'reg.example': { Username: 'u', Secret: secret },
    'https://index.docker.io/v1/': { Username: 'd', Secret: 'hub-pw' },
  });
  assert.deepEqual(Object.fromEntries(ecr), { 'ecr.example': { Username: 'AWS', Secret: 'ecr-token' } });
  const text = readFileSync(own, 'utf8');
  assert.deepEqual(JSON.parse(text), { auths: { 'reg.example': {}, 'ecr.example': {}, 'docker.io': {} } });
  assert.ok(!text.includes(secret) && !text.includes('old-pw'));
  assert.equal(readFileSync(extra, 'utf8').includes('auths'), false, 'the extra file is never written');
  for (const c of calls)
    assert.ok(
      c.args.every((a) => !a.includes(secret)),
      'no secret in arguments',
    );
  assert.deepEqual(await store.get('reg.example'), { username: 'u', password: secret });
  assert.deepEqual(await store.get('ecr.example'), { username: 'AWS', password: 'ecr-token' });

  // a key another tool wrote in another spelling is erased too
  pass.set('https://reg.example/', { Username: 'v', Secret: 'w' });
  assert.equal(await store.remove('reg.example'), true);
  assert.equal(pass.has('reg.example') || pass.has('https://reg.example/'), false);
  assert.equal(await store.get('reg.example'), undefined);
  assert.equal(await store.remove('reg.example'), false);
  assert.equal(await store.remove('ecr.example'), true);
  assert.equal(ecr.size, 0);
  assert.deepEqual(JSON.parse(readFileSync(own, 'utf8')), { auths: { 'docker.io': {} } });

  // brig's own file names a helper: it wins over the extra file's
  const mine = new Map<string, { Username: string; Secret: string }>();
  const h2 = fakeHelpers({ pass, mine });
  writeFileSync(own, JSON.stringify({ credsStore: 'mine' }));
  await new CredentialStore(own, [extra], { runner: h2.runner }).set('reg.example', {
    username: 'm',
    password: 'n',
  });
  assert.equal(mine.size, 1);
  assert.equal(pass.has('reg.example'), false);
});

test('helper failures: a missing helper, a failing one; nothing is stored, no secret in the error', async (t) => {
  const dir = tempDir(t);
  const own = join(dir, 'auth.json');
  writeFileSync(own, JSON.stringify({ credsStore: 'desktop' }));
  const { runner } = fakeHelpers({});
  const store = new CredentialStore(own, [], { runner });
  await assert.rejects(store.get('reg.example'), (e) => isBrigError(e, 'ERR_CREDENTIAL_HELPER_NOT_FOUND'));
  const secret = 'Never-Shown-1';
  await assert.rejects(store.set('reg.example', { username: 'u', password: secret }), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER_NOT_FOUND'));
    assert.match(e.message, /docker-credential-desktop/);
    return !JSON.stringify(e).includes(secret) && !String(e.stack).includes(secret);
  });
  assert.deepEqual(JSON.parse(readFileSync(own, 'utf8')), { credsStore: 'desktop' });

  // a helper that echoes what it was given in its error
  const leaky: CommandRunner = {
    run: async (_cmd, _args, o: RunOptions = {}) => ({
      code: 1,
      signal: null,
      stdout: Buffer.from(`store failed for ${o.input?.toString()}`),
      stderr: Buffer.alloc(0),
    }),
  };
  const s2 = new CredentialStore(own, [], { runner: leaky });
  await assert.rejects(s2.set('reg.example', { username: 'u', password: secret }), (e) => {
    assert.ok(isBrigError(e, 'ERR_CREDENTIAL_HELPER'));
    const text = `${e.message} ${JSON.stringify(e)} ${e.stack}`;
    assert.ok(text.includes('docker-credential-desktop') && !text.includes(secret));
    return true;
  });
  // a helper name that is a path is refused without running anything
  writeFileSync(own, JSON.stringify({ credHelpers: { 'reg.example': '../../bin/sh' } }));
  await assert.rejects(new CredentialStore(own, [], { runner }).get('reg.example'), (e) =>
    isBrigError(e, 'ERR_CREDENTIALS'),
  );
});
