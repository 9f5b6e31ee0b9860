import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isBrigError } from '../errors/errors.ts';
import {
  type MountRequest,
  parseMountFlag,
  parseSize,
  parseTmpfsFlag,
  parseVolumeFlag,
  splitCsv,
} from './mount-spec.ts';

const invalid = (e: unknown) => isBrigError(e, 'ERR_MOUNT_INVALID');

describe('parseVolumeFlag (-v)', () => {
  const ok: Array<[string, MountRequest]> = [
    ['/data', { type: 'volume', target: '/data', readOnly: false, noCopy: false }],
    ['/data/', { type: 'volume', target: '/data', readOnly: false, noCopy: false }],
    ['/a//b/../c', { type: 'volume', target: '/a/c', readOnly: false, noCopy: false }],
    ['db:/var/db', { type: 'volume', source: 'db', target: '/var/db', readOnly: false, noCopy: false }],
    ['db:/var/db:ro', { type: 'volume', source: 'db', target: '/var/db', readOnly: true, noCopy: false }],
    [
      'db:/var/db:rw,nocopy',
      { type: 'volume', source: 'db', target: '/var/db', readOnly: false, noCopy: true },
    ],
    [
      'my.vol_1-x:/d:Z',
      { type: 'volume', source: 'my.vol_1-x', target: '/d', readOnly: false, noCopy: false, selinux: 'Z' },
    ],
    [
      '/srv/www:/www',
      { type: 'bind', source: '/srv/www', target: '/www', readOnly: false, createSource: true },
    ],
    [
      '/srv/www/:/www:ro',
      { type: 'bind', source: '/srv/www', target: '/www', readOnly: true, createSource: true },
    ],
    ['/:/host:ro', { type: 'bind', source: '/', target: '/host', readOnly: true, createSource: true }],
    [
      '/srv:/srv:ro,z,rshared',
      {
        type: 'bind',
        source: '/srv',
        target: '/srv',
        readOnly: true,
        createSource: true,
        propagation: 'rshared',
        selinux: 'z',
      },
    ],
    [
      '/srv:/srv:cached',
      { type: 'bind', source: '/srv', target: '/srv', readOnly: false, createSource: true },
    ],
    [
      '/srv:/srv:delegated,ro',
      { type: 'bind', source: '/srv', target: '/srv', readOnly: true, createSource: true },
    ],
  ];
  for (const [v, want] of ok) test(`accepts ${v}`, () => assert.deepEqual(parseVolumeFlag(v), want));

  const bad = [
    '',
    'data', // relative destination
    'db:data',
    '/data:ro', // a mode without a source
    '/data:rw',
    ':/data',
    'db:/',
    'db:/d:',
    '/s:/d:ro:x',
    'db:/d:ro,rw',
    'db:/d:ro,ro',
    'db:/d:z,Z',
    'db:/d:bogus',
    'db:/d:rshared', // propagation is for binds
    '/s:/d:nocopy', // nocopy is for volumes
    '/s:/d:shared,private',
    './rel:/d', // relative host path
    '../x:/d',
    'a:/d', // one-character name
    '-x:/d',
    'a b:/d',
    'db:relative',
    'db:/d:cached,delegated',
    'db:/d\0x',
  ];
  for (const v of bad)
    test(`refuses ${JSON.stringify(v)}`, () => assert.throws(() => parseVolumeFlag(v), invalid));

  test('property: NAME:DEST[:ro] is a named volume at the normalised destination', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{1,30}$/);
    const seg = fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(name, fc.array(seg, { minLength: 1, maxLength: 5 }), fc.boolean(), (n, segs, ro) => {
        const dst = `/${segs.join('/')}`;
        const r = parseVolumeFlag(`${n}:${dst}${ro ? ':ro' : ''}`);
        assert.equal(r.type, 'volume');
        assert.equal(r.type === 'volume' && r.source, n);
        assert.equal(r.target, dst);
        assert.equal(r.readOnly, ro);
      }),
    );
  });

  test('property: never throws anything but ERR_MOUNT_INVALID', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          const r = parseVolumeFlag(s);
          assert.ok(r.target.startsWith('/') && r.target !== '/');
        } catch (e) {
          assert.ok(invalid(e), String(e));
        }
      }),
    );
  });
});

describe('parseMountFlag (--mount)', () => {
  const ok: Array<[string, MountRequest]> = [
    ['target=/d', { type: 'volume', target: '/d', readOnly: false, noCopy: false }],
    [
      'type=volume,source=db,target=/var/db',
      { type: 'volume', source: 'db', target: '/var/db', readOnly: false, noCopy: false },
    ],
    [
      'type=volume,src=db,dst=/var/db,ro',
      { type: 'volume', source: 'db', target: '/var/db', readOnly: true, noCopy: false },
    ],
    [
      'type=volume,src=db,destination=/x,readonly=false',
      { type: 'volume', source: 'db', target: '/x', readOnly: false, noCopy: false },
    ],
    [
      'type=volume,src=db,target=/x,readonly=1',
      { type: 'volume', source: 'db', target: '/x', readOnly: true, noCopy: false },
    ],
    [
      'type=volume,src=db,target=/x,volume-nocopy,volume-label=a=b,volume-label=c,volume-driver=local',
      {
        type: 'volume',
        source: 'db',
        target: '/x',
        readOnly: false,
        noCopy: true,
        labels: { a: 'b', c: '' },
      },
    ],
    [
      'type=bind,source=/srv,target=/srv',
      { type: 'bind', source: '/srv', target: '/srv', readOnly: false, createSource: false },
    ],
    [
      'type=bind,source=/srv,target=/srv,readonly,bind-propagation=rslave,bind-create-src',
      {
        type: 'bind',
        source: '/srv',
        target: '/srv',
        readOnly: true,
        createSource: true,
        propagation: 'rslave',
      },
    ],
    [
      'type=bind,src=/a/../b/,dst=/c,consistency=cached',
      { type: 'bind', source: '/b', target: '/c', readOnly: false, createSource: false },
    ],
    [
      '"type=bind","source=/a,b","target=/c"',
      { type: 'bind', source: '/a,b', target: '/c', readOnly: false, createSource: false },
    ],
    ['TYPE=tmpfs,target=/run', { type: 'tmpfs', target: '/run', readOnly: false }],
    [
      'type=tmpfs,target=/run,tmpfs-size=64m,tmpfs-mode=1777',
      { type: 'tmpfs', target: '/run', readOnly: false, size: 64 * 1024 * 1024, mode: 0o1777 },
    ],
    [
      'type=tmpfs,dst=/t,tmpfs-size=4096,ro=true',
      { type: 'tmpfs', target: '/t', readOnly: true, size: 4096 },
    ],
  ];
  for (const [v, want] of ok) test(`accepts ${v}`, () => assert.deepEqual(parseMountFlag(v), want));

  const bad = [
    '',
    'type=volume',
    'source=db',
    'type=nfs,target=/d',
    'type=,target=/d',
    'type=bind,target=/d',
    'type=bind,source=rel,target=/d',
    'type=tmpfs,source=x,target=/d',
    'type=volume,source=/abs,target=/d',
    'type=volume,source=a,target=/d',
    'target=/d,target=/e',
    'target=/d,dst=/e',
    'target=relative',
    'target=/',
    'target=/d,,ro',
    'target=/d,bogus=1',
    'target=/d,readonly=maybe',
    'target=/d,volume-opt=o=size=1',
    'target=/d,volume-driver=nfs',
    'target=/d,volume-label==x',
    'type=bind,source=/s,target=/d,volume-nocopy',
    'type=volume,target=/d,bind-propagation=shared',
    'type=bind,source=/s,target=/d,bind-propagation=sideways',
    'type=volume,target=/d,tmpfs-size=1m',
    'type=tmpfs,target=/d,tmpfs-size=lots',
    'type=tmpfs,target=/d,tmpfs-size=0',
    'type=tmpfs,target=/d,tmpfs-mode=999',
    'type=tmpfs,target=/d,bind-create-src',
    'target=/d,consistency=eventual',
    'target=/d,source=',
    '"target=/d',
    '"target"=/d',
    'tar"get=/d',
  ];
  for (const v of bad)
    test(`refuses ${JSON.stringify(v)}`, () => assert.throws(() => parseMountFlag(v), invalid));

  test('property: never throws anything but ERR_MOUNT_INVALID', () => {
    const alphabet = fc.constantFrom(
      'type=',
      'bind',
      'volume',
      'tmpfs',
      'src=',
      'target=',
      '/x',
      ',',
      '"',
      'ro',
      '=',
      'a',
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 12 }), (parts) => {
        try {
          parseMountFlag(parts.join(''));
        } catch (e) {
          assert.ok(invalid(e), String(e));
        }
      }),
    );
  });
});

describe('parseTmpfsFlag (--tmpfs)', () => {
  test('forms', () => {
    assert.deepEqual(parseTmpfsFlag('/run'), { type: 'tmpfs', target: '/run', readOnly: false });
    assert.deepEqual(parseTmpfsFlag('/run:rw,size=1g,mode=0700,exec,nosuid'), {
      type: 'tmpfs',
      target: '/run',
      readOnly: false,
      size: 1024 ** 3,
      mode: 0o700,
      flags: ['exec', 'nosuid'],
    });
    assert.deepEqual(parseTmpfsFlag('/ro:ro'), { type: 'tmpfs', target: '/ro', readOnly: true });
  });
  for (const v of [
    '',
    'run',
    '/',
    '/r:size=',
    '/r:size=x',
    '/r:mode=8',
    '/r:ro,rw',
    '/r:bogus',
    '/r:exec,exec',
    '/r:size=1k,size=2k',
  ])
    test(`refuses ${JSON.stringify(v)}`, () => assert.throws(() => parseTmpfsFlag(v), invalid));
});

test('splitCsv and parseSize', () => {
  assert.deepEqual(splitCsv('a,b'), ['a', 'b']);
  assert.deepEqual(splitCsv('"a,b",c'), ['a,b', 'c']);
  assert.deepEqual(splitCsv('"say ""hi""",x'), ['say "hi"', 'x']);
  assert.deepEqual(splitCsv('a,'), ['a', '']);
  assert.throws(() => splitCsv('"a'));
  assert.equal(parseSize('10'), 10);
  assert.equal(parseSize('2k'), 2048);
  assert.equal(parseSize('3M'), 3 * 1024 ** 2);
  assert.equal(parseSize('1gb'), 1024 ** 3);
  assert.equal(parseSize('1.5g'), undefined);
  assert.equal(parseSize('-1'), undefined);
});
