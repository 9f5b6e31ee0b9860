import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as v from 'valibot';
import { tempDir } from '../../test/support/tmp.ts';
import { RegistryHosts, registriesDefaults, registriesSchema, resolveRegistries } from './config.ts';
import { resolveReference } from './names.ts';

test('defaults: docker.io, library/, no insecure host, authFile under the root, certs.d beside the config', () => {
  assert.equal(registriesDefaults.defaultRegistry, 'docker.io');
  assert.deepEqual(registriesDefaults.insecure, []);
  const r = resolveRegistries(registriesDefaults, {
    root: '/var/lib/brig',
    configFile: '/etc/brig/brig.yaml',
  });
  assert.equal(r.authFile, '/var/lib/brig/auth.json');
  assert.equal(r.certsDir, '/etc/brig/certs.d');
  assert.throws(() => v.parse(registriesSchema, { insecur: [] }));
  assert.throws(() => v.parse(registriesSchema, { mirrors: { 'docker.io': ['not a url'] } }));
});

test('endpoints: mirrors first for pulls only; plain HTTP and unverified TLS only for insecure hosts', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'certs.d', 'reg.example:5000'), { recursive: true });
  writeFileSync(join(dir, 'certs.d', 'reg.example:5000', 'ca.crt'), 'PEM');
  const cfg = v.parse(registriesSchema, {
    insecure: ['localhost:5000'],
    mirrors: { 'docker.io': ['https://mirror.example/prefix/'] },
    tlsVerify: { 'self.example': false },
  });
  const hosts = new RegistryHosts(resolveRegistries(cfg, { root: dir, configFile: join(dir, 'brig.yaml') }));
  const pull = hosts.endpoints('docker.io', 'pull');
  assert.deepEqual(
    pull.map((e) => [e.base, e.mirror]),
    [
      ['https://mirror.example/prefix', true],
      ['https://registry-1.docker.io', false],
    ],
  );
  assert.equal(hosts.endpoints('docker.io', 'push').length, 1);
  assert.equal(hosts.endpoints('index.docker.io', 'push')[0]!.registry, 'docker.io');
  const local = hosts.endpoints('localhost:5000', 'pull')[0]!;
  assert.equal(local.allowHttp, true);
  assert.equal(local.tls.rejectUnauthorized, false);
  const other = hosts.endpoints('reg.example:5000', 'pull')[0]!;
  assert.equal(other.allowHttp, false);
  assert.equal(other.tls.rejectUnauthorized, true);
  assert.deepEqual(other.tls.ca, ['PEM']);
  assert.equal(hosts.tls('self.example').rejectUnauthorized, false);
  assert.equal(hosts.endpoints('self.example', 'pull')[0]!.allowHttp, false);
});

test('a plain-HTTP mirror must be listed as insecure', () => {
  const cfg = v.parse(registriesSchema, { mirrors: { 'docker.io': ['http://mirror.local:5000'] } });
  const hosts = new RegistryHosts(resolveRegistries(cfg, { root: '/r', configFile: '/c/brig.yaml' }));
  assert.throws(() => hosts.endpoints('docker.io', 'pull'), { code: 'ERR_CONFIG_INVALID' });
});

test('resolveReference applies the configured default registry and official namespace', () => {
  assert.deepEqual(resolveReference('busybox'), {
    domain: 'docker.io',
    path: 'library/busybox',
    tag: 'latest',
  });
  assert.deepEqual(resolveReference('busybox', { defaultRegistry: 'reg.example' }), {
    domain: 'reg.example',
    path: 'busybox',
    tag: 'latest',
  });
  assert.deepEqual(resolveReference('team/app:1', { defaultRegistry: 'reg.example' }), {
    domain: 'reg.example',
    path: 'team/app',
    tag: '1',
  });
  assert.deepEqual(resolveReference('busybox', { officialNamespace: '' }), {
    domain: 'docker.io',
    path: 'busybox',
    tag: 'latest',
  });
  assert.deepEqual(resolveReference('docker.io/busybox', { defaultRegistry: 'reg.example' }), {
    domain: 'docker.io',
    path: 'library/busybox',
    tag: 'latest',
  });
  assert.deepEqual(resolveReference('index.docker.io/x/y:2'), { domain: 'docker.io', path: 'x/y', tag: '2' });
  assert.deepEqual(resolveReference('localhost:5000/a@sha256:' + 'a'.repeat(64)), {
    domain: 'localhost:5000',
    path: 'a',
    digest: `sha256:${'a'.repeat(64)}`,
  });
  assert.throws(() => resolveReference('team/UPPER'), { code: 'ERR_REFERENCE_INVALID' });
});
