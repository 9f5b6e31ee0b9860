import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBrigError } from '../errors/errors.ts';
import { linuxDefaultMounts, linuxSection } from '../platform/linux/linux-platform.ts';
import type { BundleSection } from '../platform/platform.ts';
import { buildSpec, DEFAULT_PATH, mergeEnv, resolveProcess, resolveUser } from './bundle.ts';

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nwww:x:33:\nstaff:x:50:www,other\naudio:x:29:www\nnogroup:x:65534:\n';
const req = { command: [], env: [], terminal: false, hostname: 'h' };

describe('resolveProcess', () => {
  test('docker rules: Entrypoint + Cmd, a command replaces Cmd, --entrypoint replaces both', () => {
    const img = { Entrypoint: ['/ep'], Cmd: ['a', 'b'] };
    assert.deepEqual(resolveProcess(img, undefined, req).args, ['/ep', 'a', 'b']);
    assert.deepEqual(resolveProcess(img, undefined, { ...req, command: ['x'] }).args, ['/ep', 'x']);
    assert.deepEqual(resolveProcess(img, undefined, { ...req, entrypoint: '/other', command: ['y'] }).args, [
      '/other',
      'y',
    ]);
    assert.deepEqual(resolveProcess(img, undefined, { ...req, entrypoint: '', command: ['z'] }).args, ['z']);
    assert.throws(
      () => resolveProcess({}, undefined, req),
      (e) => isBrigError(e, 'ERR_NO_COMMAND'),
    );
  });

  test('env: PATH default, image, entry point, parameter defaults, HOSTNAME, TERM, then -e (later wins)', () => {
    const brig = {
      entrypoints: {
        main: { args: ['/app', '--port', '${PORT}'], env: { MODE: 'ep' }, workdir: '/srv', user: 'www' },
      },
      defaultEntrypoint: 'main',
      parameters: { PORT: { default: '8080' }, MODE: { default: 'param' } },
    };
    const p = resolveProcess({ Env: ['PATH=/bin', 'A=img'] }, brig, {
      ...req,
      env: ['A=cli', 'PORT=9'],
      terminal: true,
    });
    assert.deepEqual(p.args, ['/app', '--port', '9']);
    assert.deepEqual(p.env, ['PATH=/bin', 'A=cli', 'MODE=param', 'PORT=9', 'HOSTNAME=h', 'TERM=xterm']);
    assert.equal(p.cwd, '/srv');
    assert.equal(p.user, 'www');
    assert.equal(p.entrypointName, 'main');
    // a command naming an entry point selects it; any other command is docker's
    const named = resolveProcess({ Cmd: ['sh'] }, brig, { ...req, command: ['main', 'extra'] });
    assert.deepEqual(named.args, ['/app', '--port', '8080', 'extra']);
    assert.deepEqual(resolveProcess({ Cmd: ['sh'] }, brig, { ...req, command: ['/bin/echo'] }).args, [
      '/bin/echo',
    ]);
    assert.ok(resolveProcess({}, undefined, { ...req, command: ['x'] }).env.includes(DEFAULT_PATH));
  });

  test('a required parameter nobody gave: ERR_PARAMETER_MISSING', () => {
    const brig = { parameters: { TOKEN: { required: true } } };
    assert.throws(
      () => resolveProcess({ Cmd: ['x'] }, brig, req),
      (e) => isBrigError(e, 'ERR_PARAMETER_MISSING'),
    );
    assert.doesNotThrow(() => resolveProcess({ Cmd: ['x'] }, brig, { ...req, env: ['TOKEN=t'] }));
  });

  test('mergeEnv keeps first position, last value', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['A=3', 'C=4', 'junk']), ['A=3', 'B=2', 'C=4']);
  });
});

describe('resolveUser', () => {
  test('names and numbers against the container passwd/group; supplementary groups', () => {
    assert.deepEqual(resolveUser('www', PASSWD, GROUP), {
      uid: 33,
      gid: 33,
      additionalGids: [50, 29],
      home: '/var/www',
    });
    assert.deepEqual(resolveUser('www:staff', PASSWD, GROUP), {
      uid: 33,
      gid: 50,
      additionalGids: [],
      home: '/var/www',
    });
    assert.deepEqual(resolveUser('1234:5', PASSWD, GROUP), {
      uid: 1234,
      gid: 5,
      additionalGids: [],
      home: '/',
    });
    assert.deepEqual(resolveUser('0', '', ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
    assert.throws(
      () => resolveUser('nosuch', PASSWD, GROUP),
      (e) => isBrigError(e, 'ERR_USER_UNKNOWN'),
    );
    assert.throws(
      () => resolveUser('www:nosuch', PASSWD, GROUP),
      (e) => isBrigError(e, 'ERR_USER_UNKNOWN'),
    );
  });
});

describe('buildSpec (golden)', () => {
  test('a complete config.json', () => {
    const input = {
      id: 'c'.repeat(64),
      daemonTag: 't',
      name: 'n',
      limits: { memory: 64 * 1024 * 1024, cpus: 1.5, pids: 100 },
      grant: { capabilities: ['CAP_NET_RAW'] },
      readOnlyRoot: true,
      terminal: false,
    };
    const section: BundleSection = {
      defaultMounts: linuxDefaultMounts(true),
      capabilities: ['CAP_KILL', 'CAP_NET_RAW'],
      section: { key: 'linux', value: linuxSection(input, '/own/brig-t/c') },
      annotations: {},
      scope: '/own/brig-t/c',
    };
    const spec = buildSpec({
      process: resolveProcess({ Cmd: ['/bin/sh'] }, undefined, { ...req, env: ['X=1'] }),
      user: resolveUser('www', PASSWD, GROUP),
      terminal: false,
      hostname: 'h',
      readOnlyRoot: true,
      mounts: [{ destination: '/data', type: 'bind', source: '/v/data', options: ['rbind'] }],
      etcFiles: [{ source: '/b/hosts', destination: '/etc/hosts' }],
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }],
      annotations: { 'org.brig.container.id': 'c' },
      section,
    });
    assert.deepEqual(spec.process, {
      terminal: false,
      user: { uid: 33, gid: 33, additionalGids: [50, 29] },
      args: ['/bin/sh'],
      env: ['HOME=/var/www', DEFAULT_PATH, 'HOSTNAME=h', 'X=1'],
      cwd: '/',
      capabilities: { bounding: ['CAP_KILL', 'CAP_NET_RAW'], effective: [], permitted: [], inheritable: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }],
      noNewPrivileges: true,
    });
    assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
    assert.deepEqual(
      spec.mounts.map((m) => m.destination),
      [
        '/proc',
        '/dev',
        '/dev/pts',
        '/dev/shm',
        '/dev/mqueue',
        '/sys',
        '/sys/fs/cgroup',
        '/etc/hosts',
        '/data',
      ],
    );
    assert.deepEqual(spec.mounts[7], {
      destination: '/etc/hosts',
      type: 'bind',
      source: '/b/hosts',
      options: ['rbind', 'rprivate', 'ro'],
    });
    const linux = spec.linux as Record<string, unknown>;
    assert.equal(linux.cgroupsPath, '/own/brig-t/c');
    assert.deepEqual(linux.namespaces, [
      { type: 'pid' },
      { type: 'ipc' },
      { type: 'uts' },
      { type: 'mount' },
      { type: 'cgroup' },
    ]);
    const res = linux.resources as Record<string, unknown>;
    assert.deepEqual(res.memory, { limit: 67108864, swap: 67108864 });
    assert.deepEqual(res.cpu, { quota: 150000, period: 100000 });
    assert.deepEqual(res.pids, { limit: 100 });
    assert.deepEqual((res.devices as unknown[])[0], { allow: false, access: 'rwm' });
    assert.ok((linux.maskedPaths as string[]).includes('/proc/kcore'));
    assert.ok((linux.readonlyPaths as string[]).includes('/proc/sys'));
  });

  test('root gets effective capabilities; sysvipc inherit shares the host IPC namespace', () => {
    const s = linuxSection(
      {
        id: 'x',
        daemonTag: 't',
        name: 'n',
        limits: {},
        grant: { sysvipc: { shm: 'inherit' } },
        readOnlyRoot: false,
        terminal: false,
      },
      '/p',
    );
    assert.ok(!(s.namespaces as Array<{ type: string }>).some((n) => n.type === 'ipc'));
    assert.equal((s.resources as Record<string, unknown>).memory, undefined);
  });
});
