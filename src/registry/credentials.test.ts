import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.ts';
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
      credsStore: 'desktop',
    }),
  );
  assert.deepEqual(await store.get('docker.io'), { username: 'd', password: 'x' });
  await store.set('index.docker.io', { username: 'e', password: 'y' });
  const f = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(f.credsStore, 'desktop');
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
