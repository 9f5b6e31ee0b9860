import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrigError } from '../errors/errors.ts';
import { parseBrigSection } from '../images/brig-section.ts';
import { defaultPolicy, parsePolicy } from '../policy/index.ts';
import { explainImage, SECRET_MASK } from './explain.ts';
import { checkRunRequirements, missingRequirements } from './requirements.ts';

const brig = parseBrigSection({
  version: 1,
  description: 'an app',
  entrypoints: {
    main: { args: ['/app', '--port', '${PORT}'], usage: 'app [--port N]', description: 'serve' },
  },
  defaultEntrypoint: 'main',
  parameters: {
    PORT: { description: 'port', default: '8080' },
    TOKEN: { description: 'API token', required: true, secret: true },
    PASSWORD: { description: 'db password', secret: true, default: 'hunter2' },
    MODE: { description: 'mode', required: true },
  },
  volumes: {
    data: { destination: '/var/db/app', description: 'the data', required: true },
    cache: { destination: '/var/cache/app' },
  },
  ports: { '8080/tcp': { description: 'HTTP API' } },
  privileges: { allow: ['raw_sockets'], devfs: ['path fuse unhide'] },
});

test('every missing parameter and volume is named with its description', () => {
  assert.deepEqual(missingRequirements(brig, { env: ['MODE=x'], volumes: [] }), [
    { kind: 'parameter', name: 'TOKEN', description: 'API token' },
    { kind: 'volume', name: 'data', destination: '/var/db/app', description: 'the data' },
  ]);
  assert.throws(
    () => checkRunRequirements(brig, { env: [], volumes: ['/var/cache/app'] }),
    (e: unknown) =>
      e instanceof BrigError &&
      e.code === 'ERR_PARAMETER_MISSING' &&
      (e.details as { missing: { name: string }[] }).missing.map((m) => m.name).join() ===
        'TOKEN,MODE,data' &&
      e.message.includes('API token') &&
      e.message.includes('the data'),
  );
  checkRunRequirements(brig, { env: { TOKEN: 't', MODE: 'm' }, volumes: ['/var/db/app/'] });
  checkRunRequirements(brig, { env: ['TOKEN=', 'MODE'], volumes: ['/var/db//app'] });
});

test('explain: entry points, parameters (secrets masked), volumes, ports, decisions', () => {
  const details = {
    id: 'sha256:c' as const,
    names: ['docker.io/library/app:1'],
    manifestDigest: 'sha256:m' as const,
    platform: 'linux/amd64',
    brig,
  };
  const e = explainImage(details, defaultPolicy, { os: 'linux' });
  assert.equal(e.description, 'an app');
  assert.deepEqual(e.entrypoints, [
    {
      name: 'main',
      default: true,
      args: ['/app', '--port', '${PORT}'],
      description: 'serve',
      usage: 'app [--port N]',
    },
  ]);
  assert.deepEqual(
    e.parameters.map((p) => [p.name, p.required, p.default]),
    [
      ['PORT', false, '8080'],
      ['TOKEN', true, undefined],
      ['PASSWORD', false, SECRET_MASK],
      ['MODE', true, undefined],
    ],
  );
  assert.ok(!JSON.stringify(e).includes('hunter2'));
  assert.deepEqual(
    e.volumes.map((v) => [v.name, v.required]),
    [
      ['data', true],
      ['cache', false],
    ],
  );
  assert.deepEqual(e.ports, [{ port: '8080/tcp', description: 'HTTP API' }]);
  assert.deepEqual(
    e.privileges.map((d) => [d.item, d.granted]),
    [
      ['devfs:path fuse unhide', false],
      ['allow.raw_sockets', false],
    ],
  );
  assert.equal(e.runnable, false);
  const p = parsePolicy({ allow: ['raw_sockets'], devfs: { grant: ['path fuse unhide'] } });
  const ok = explainImage(details, p, { os: 'linux' });
  assert.deepEqual(
    ok.privileges.map((d) => [d.granted, d.why]),
    [
      [true, 'granted by policy.devfs.grant'],
      [true, 'granted by policy.allow'],
    ],
  );
  assert.equal(ok.runnable, true);
  assert.equal(
    explainImage(details, defaultPolicy, { os: 'linux' }, ['allow.raw_sockets']).privileges[1]!.why,
    'granted by --grant',
  );
});
