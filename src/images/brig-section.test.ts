import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BrigError } from '../errors/errors.ts';
import { emptyBrigSection, parseBrigSection } from './brig-section.ts';

const full = () => ({
  version: 1,
  description: 'what this image is',
  entrypoints: {
    main: {
      args: ['/usr/local/bin/app', '--port', '${PORT}'],
      description: 'd',
      usage: 'u',
      workdir: '/',
      user: 'www',
      env: { K: 'V' },
    },
  },
  defaultEntrypoint: 'main',
  parameters: {
    PORT: { description: 'p', required: false, default: '8080', secret: false },
    TOKEN: { required: true, secret: true },
  },
  volumes: { data: { destination: '/var/db/app', description: 'd', required: true, readOnly: false } },
  ports: { '8080/tcp': { description: 'HTTP API' } },
  privileges: {
    devfs: ["path 'bpf*' unhide", "path 'tun*' unhide mode 0660"],
    allow: ['raw_sockets', 'mount.tmpfs'],
    sysvipc: { msg: 'new', shm: 'inherit', sem: 'disable' },
    vnet: true,
    childrenMax: 0,
    securelevel: 2,
  },
});

type Code = 'ERR_BRIG_SECTION_INVALID' | 'ERR_PRIVILEGE_INVALID' | 'ERR_DEVFS_RULE_INVALID';
const CODES: readonly string[] = [
  'ERR_BRIG_SECTION_INVALID',
  'ERR_PRIVILEGE_INVALID',
  'ERR_DEVFS_RULE_INVALID',
];

function fails(v: unknown, field: string, code: Code = 'ERR_BRIG_SECTION_INVALID'): void {
  assert.throws(
    () => parseBrigSection(v),
    (e) => {
      assert.ok(e instanceof BrigError, String(e));
      assert.equal(e.code, code, e.message);
      assert.equal(e.details?.field, field, e.message);
      return true;
    },
  );
}

// biome-ignore lint/suspicious/noExplicitAny: tests mutate arbitrary JSON documents
function mutate(f: (x: any) => void): unknown {
  const x = full();
  f(x);
  return x;
}

test('the design §7 example parses, with defaults filled in', () => {
  const s = parseBrigSection(full());
  assert.equal(s.entrypoints.main!.user, 'www');
  assert.deepEqual(s.parameters.TOKEN, { required: true, secret: true });
  assert.equal(s.volumes.data!.readOnly, false);
  assert.equal(s.ports['8080/tcp']!.description, 'HTTP API');
  assert.equal(s.privileges.sysvipc.shm, 'inherit');
  assert.deepEqual(s.privileges.allow, ['mount.tmpfs', 'raw_sockets']);
  assert.equal(s.privileges.devfs.length, 2);
  assert.equal(s.privileges.securelevel, 2);
});

test('absent section and empty object give the empty section', () => {
  assert.deepEqual(parseBrigSection(undefined), emptyBrigSection());
  assert.deepEqual(parseBrigSection({}), emptyBrigSection());
  const s = parseBrigSection({
    volumes: { v: { destination: '/x' } },
    entrypoints: { e: { args: ['/bin/sh'] } },
  });
  assert.deepEqual(s.volumes.v, { destination: '/x', required: false, readOnly: false });
  assert.deepEqual(s.entrypoints.e, { args: ['/bin/sh'], env: {} });
});

test('errors name the field path', () => {
  fails([], 'brig');
  fails(
    mutate((x) => (x.version = 2)),
    'brig.version',
  );
  fails(
    mutate((x) => (x.extra = 1)),
    'brig.extra',
  );
  fails(
    mutate((x) => (x.description = 5)),
    'brig.description',
  );
  fails(
    mutate((x) => (x.entrypoints.main.args = [])),
    'brig.entrypoints.main.args',
  );
  fails(
    mutate((x) => (x.entrypoints.main.args = 'sh')),
    'brig.entrypoints.main.args',
  );
  fails(
    mutate((x) => (x.entrypoints.main.workdir = 'rel')),
    'brig.entrypoints.main.workdir',
  );
  fails(
    mutate((x) => (x.entrypoints.main.env = { 'A-B': 'x' })),
    'brig.entrypoints.main.env["A-B"]',
  );
  fails(
    mutate((x) => (x.entrypoints.main.cmd = [])),
    'brig.entrypoints.main.cmd',
  );
  fails(
    mutate((x) => (x.entrypoints['bad name'] = { args: ['x'] })),
    'brig.entrypoints["bad name"]',
  );
  fails(
    mutate((x) => (x.defaultEntrypoint = 'other')),
    'brig.defaultEntrypoint',
  );
  fails(
    mutate((x) => (x.parameters['1X'] = {})),
    'brig.parameters["1X"]',
  );
  fails(
    mutate((x) => (x.parameters.PORT.required = 'no')),
    'brig.parameters.PORT.required',
  );
  fails(
    mutate((x) => (x.parameters.TOKEN.default = 'x')),
    'brig.parameters.TOKEN.default',
  );
  fails(
    mutate((x) => (x.volumes.data.readonly = true)),
    'brig.volumes.data.readonly',
  );
  fails(
    mutate((x) => (x.volumes.data.destination = 'var/db')),
    'brig.volumes.data.destination',
  );
  fails(
    mutate((x) => (x.volumes.data.destination = '/var/../etc')),
    'brig.volumes.data.destination',
  );
  fails(
    mutate((x) => (x.volumes.data.destination = '/')),
    'brig.volumes.data.destination',
  );
  fails(
    mutate((x) => (x.volumes.other = { destination: '/var/db/app/' })),
    'brig.volumes.other.destination',
  );
  fails(
    mutate((x) => (x.ports['http'] = {})),
    'brig.ports.http',
  );
  fails(
    mutate((x) => (x.ports['70000/tcp'] = {})),
    'brig.ports["70000/tcp"]',
  );
  fails(
    mutate((x) => (x.ports['8080/tcp'].desc = 'x')),
    'brig.ports["8080/tcp"].desc',
  );
  fails(
    mutate((x) => (x.privileges.devfs = "path 'bpf*' unhide")),
    'brig.privileges.devfs',
  );
  fails(
    mutate((x) => (x.privileges.allow = ['Raw Sockets'])),
    'brig.privileges.allow[0]',
    'ERR_PRIVILEGE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.allow = ['raw_sockets', 'no_such_thing'])),
    'brig.privileges.allow[1]',
    'ERR_PRIVILEGE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.devfs = ['path bpf* frobnicate'])),
    'brig.privileges.devfs[0]',
    'ERR_DEVFS_RULE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.sysvipc.msg = 'shared')),
    'brig.privileges.sysvipc.msg',
    'ERR_PRIVILEGE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.sysvipc.ipc = 'new')),
    'brig.privileges.sysvipc.ipc',
  );
  fails(
    mutate((x) => (x.privileges.vnet = 'yes')),
    'brig.privileges.vnet',
  );
  fails(
    mutate((x) => (x.privileges.childrenMax = -1)),
    'brig.privileges.childrenMax',
    'ERR_PRIVILEGE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.securelevel = 4)),
    'brig.privileges.securelevel',
    'ERR_PRIVILEGE_INVALID',
  );
  fails(
    mutate((x) => (x.privileges.root = true)),
    'brig.privileges.root',
  );
});

test('property: arbitrary JSON either parses or fails with a brig-section code, never anything else', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      try {
        parseBrigSection(v);
      } catch (e) {
        assert.ok(e instanceof BrigError && CODES.includes(e.code), String(e));
      }
    }),
  );
  fc.assert(
    fc.property(
      fc.dictionary(
        fc.constantFrom('version', 'description', 'volumes', 'ports', 'privileges', 'parameters'),
        fc.jsonValue(),
      ),
      (v) => {
        try {
          parseBrigSection(v);
        } catch (e) {
          assert.ok(e instanceof BrigError && CODES.includes(e.code), String(e));
        }
      },
    ),
  );
});
