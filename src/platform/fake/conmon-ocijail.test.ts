import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { simulatedHost } from '../../../test/support/fake-host.ts';
import { tempDir } from '../../../test/support/tmp.ts';
import { type HostConfig, SimulatedFreeBSDHost } from './index.ts';

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

interface Bundle {
  root: string;
  bundle: string;
  rootfs: string;
  exitDir: string;
  persistDir: string;
  pidfile: string;
  conmonPidfile: string;
  log: string;
}

function makeBundle(t: TestContext, config: Record<string, unknown> = {}): Bundle {
  const root = tempDir(t);
  const bundle = join(root, 'containers/c1');
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'dev', 'data']) mkdirSync(join(rootfs, d), { recursive: true });
  writeFileSync(join(rootfs, 'bin/sh'), '');
  writeFileSync(join(rootfs, 'bin/app'), '');
  const cfg = {
    ociVersion: '1.2.0',
    process: { args: ['/bin/app', '--serve'], env: ['PATH=/bin'], cwd: '/', terminal: false },
    root: { path: 'rootfs' },
    hostname: 'c1.example',
    mounts: [{ destination: '/dev', type: 'devfs', source: 'devfs', options: ['ruleset=4'] }],
    annotations: { 'org.freebsd.jail.sysvshm': 'new' },
    ...config,
  };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg));
  const exitDir = join(root, 'exits');
  const persistDir = join(bundle, 'persist');
  mkdirSync(exitDir);
  return {
    root,
    bundle,
    rootfs,
    exitDir,
    persistDir,
    pidfile: join(bundle, 'pidfile'),
    conmonPidfile: join(bundle, 'conmon.pid'),
    log: join(bundle, 'ctr.log'),
  };
}

function conmonArgs(b: Bundle, cid = 'c1'): string[] {
  return [
    '--api-version',
    '1',
    '--cid',
    cid,
    '--cuuid',
    cid,
    '--name',
    'web',
    '--runtime',
    '/usr/local/bin/ocijail',
    '--bundle',
    b.bundle,
    '--log-path',
    `k8s-file:${b.log}`,
    '--exit-dir',
    b.exitDir,
    '--persist-dir',
    b.persistDir,
    '--container-pidfile',
    b.pidfile,
    '--conmon-pidfile',
    b.conmonPidfile,
    '--socket-dir-path',
    join(b.root, 'sockets'),
    '--log-level',
    'info',
    '--runtime-arg',
    '--root=' + join(b.root, 'ocijail'),
  ];
}

const setup = (config: HostConfig = {}) => simulatedHost({ clock: () => T0, ...config });

describe('conmon + ocijail', () => {
  test('lifecycle: create under conmon, start, the process ends, exit files appear, delete', async (t) => {
    const b = makeBundle(t);
    const { h, run } = setup();
    const oroot = `--root=${join(b.root, 'ocijail')}`;
    const initial = h.state();
    assert.deepEqual(await run('/usr/local/bin/conmon', ...conmonArgs(b)), { code: 0, out: '', err: '' });
    assert.deepEqual(
      h.log.map((l) => [l.cmd, l.via]),
      [
        ['/usr/local/bin/conmon', undefined],
        ['/usr/local/bin/ocijail', 'conmon'],
      ],
    );
    assert.deepEqual(h.log[1]!.args, [oroot, 'create', '--bundle', b.bundle, '--pid-file', b.pidfile, 'c1']);

    const st = h.state();
    const jail = st.jails['1']!;
    assert.equal(jail.name, 'c1');
    assert.deepEqual(
      [
        jail.params.path,
        jail.params.persist,
        jail.params.enforce_statfs,
        jail.params['allow.raw_sockets'],
        jail.params['allow.chflags'],
        jail.params['host.hostname'],
        jail.params.host,
        jail.params.sysvshm,
        jail.params.sysvmsg,
      ],
      [b.rootfs, true, 1, true, true, 'c1.example', 'new', 'new', 'disable'],
    );
    const devfs = st.mounts.find((m) => m.target === join(b.rootfs, 'dev'))!;
    assert.deepEqual([devfs.fstype, devfs.ruleset], ['devfs', 4]);
    const pid = Number(readFileSync(b.pidfile, 'utf8'));
    assert.deepEqual(st.processes[String(pid)], {
      pid,
      jid: 1,
      argv: ['/bin/app', '--serve'],
      state: 'created',
      container: 'c1',
    });
    const conmonPid = Number(readFileSync(b.conmonPidfile, 'utf8'));
    assert.ok(conmonPid > 0 && h.isProcessAlive(conmonPid) && h.isProcessAlive(pid));
    assert.equal(readFileSync(b.log, 'utf8'), '');

    assert.deepEqual(await run('ocijail', oroot, 'state', 'c1'), {
      code: 0,
      out: `{"annotations":{"org.freebsd.jail.jid":"1","org.freebsd.jail.sysvshm":"new"},"bundle":"${b.bundle}","id":"c1","ociVersion":"1.0.2","pid":${pid},"status":"created"}`,
      err: '',
    });
    assert.deepEqual(await run('ocijail', oroot, 'start', 'c1'), { code: 0, out: '', err: '' });
    assert.match((await run('ocijail', oroot, 'state', 'c1')).out, /"status":"running"/);
    assert.equal((await run('jls', '-j', 'c1', 'jid')).out, '1\n');

    h.emitOutput('c1', 'stdout', 'hello\nwor');
    assert.equal(
      readFileSync(b.log, 'utf8'),
      '2026-01-02T03:04:05.678000000Z stdout F hello\n2026-01-02T03:04:05.678000000Z stdout P wor\n',
    );

    assert.equal(existsSync(join(b.exitDir, 'c1')), false);
    await h.exitProcess('c1', 3);
    assert.equal(readFileSync(join(b.exitDir, 'c1'), 'utf8'), '3');
    assert.equal(readFileSync(join(b.persistDir, 'exit'), 'utf8'), '3');
    assert.deepEqual(h.state().processes, {}, 'the ended process is reaped');
    assert.equal(h.isProcessAlive(pid) || h.isProcessAlive(conmonPid), false);
    assert.equal(
      (await run('ocijail', oroot, 'state', 'c1')).out,
      `{"annotations":{"org.freebsd.jail.jid":"1","org.freebsd.jail.sysvshm":"new"},"bundle":"${b.bundle}","id":"c1","ociVersion":"1.0.2","status":"stopped"}`,
    );
    assert.equal(
      (await run('jls', '-j', 'c1', 'jid')).out,
      '1\n',
      'the jail persists after its process ends',
    );

    assert.deepEqual(await run('ocijail', oroot, 'delete', 'c1'), { code: 0, out: '', err: '' });
    const after = h.state();
    assert.deepEqual(after.jails, {});
    assert.equal(
      after.mounts.some((m) => m.target.startsWith(b.rootfs)),
      false,
    );
    assert.deepEqual(after.containers, {});
    assert.deepEqual(after, initial);
    assert.deepEqual(
      await run('ocijail', oroot, 'delete', 'c1'),
      { code: 0, out: '', err: '' },
      'deleting again is not an error',
    );
  });

  test('kill: names without SIG, numbers; TERM ends the process with 143; an ignored TERM needs KILL (137)', async (t) => {
    const b = makeBundle(t);
    const { h, run } = setup({
      behaviour: ({ argv }) => (argv[0] === '/bin/app' ? { ignoreSignals: ['TERM'] } : undefined),
    });
    await run('conmon', ...conmonArgs(b));
    const oroot = `--root=${join(b.root, 'ocijail')}`;
    await run('ocijail', oroot, 'start', 'c1');
    assert.deepEqual(await run('ocijail', oroot, 'kill', 'c1', 'SIGTERM'), {
      code: 1,
      out: '',
      err: '2026-01-02T03:04:05000678000Z: Unknown signal name SIGTERM\n',
    });
    assert.equal((await run('ocijail', oroot, 'kill', 'c1', 'TERM')).code, 0);
    assert.equal(existsSync(join(b.exitDir, 'c1')), false, 'TERM is ignored by this process');
    assert.equal((await run('ocijail', oroot, 'kill', 'c1', 'WINCH')).code, 0);
    assert.equal(existsSync(join(b.exitDir, 'c1')), false);
    assert.equal((await run('ocijail', oroot, 'kill', 'c1', '9')).code, 0);
    assert.equal(readFileSync(join(b.exitDir, 'c1'), 'utf8'), '137');
    const plain = makeBundle(t);
    const h2 = new SimulatedFreeBSDHost();
    await h2.run('conmon', conmonArgs(plain));
    await h2.run('ocijail', [`--root=${join(plain.root, 'ocijail')}`, 'start', 'c1']);
    await h2.run('ocijail', [`--root=${join(plain.root, 'ocijail')}`, 'kill', 'c1']);
    assert.equal(readFileSync(join(plain.exitDir, 'c1'), 'utf8'), '143');
    void h;
  });

  test('a process that exits at once on start, and jail -r killing a container', async (t) => {
    const b = makeBundle(t);
    const { run } = setup({ behaviour: () => ({ exitOnStart: 0 }) });
    await run('conmon', ...conmonArgs(b));
    await run('ocijail', `--root=${join(b.root, 'ocijail')}`, 'start', 'c1');
    assert.equal(readFileSync(join(b.exitDir, 'c1'), 'utf8'), '0');
    const b2 = makeBundle(t);
    const s2 = setup();
    await s2.run('conmon', ...conmonArgs(b2));
    await s2.run('ocijail', `--root=${join(b2.root, 'ocijail')}`, 'start', 'c1');
    assert.equal((await s2.run('jail', '-r', 'c1')).code, 0);
    assert.equal(s2.h.state().containers[`${join(b2.root, 'ocijail')}/c1`]!.status, 'stopped');
  });

  test('annotations become jail parameters the way ocijail reads them', async (t) => {
    const b = makeBundle(t, {
      annotations: {
        'org.freebsd.jail.vnet': 'new',
        'org.freebsd.jail.sysvmsg': 'inherit',
        'org.freebsd.jail.allow.mlock': 'true',
        'org.freebsd.jail.allow.mount.tmpfs': '1',
        'org.freebsd.jail.allow.set_hostname': 'false',
        'org.freebsd.jail.allow.everything': 'true',
      },
    });
    const { h, run } = setup();
    assert.equal((await run('conmon', ...conmonArgs(b))).code, 0);
    const p = h.state().jails['1']!.params;
    assert.deepEqual(
      [
        p.vnet,
        p.sysvmsg,
        p.sysvshm,
        p['allow.mlock'],
        p['allow.mount.tmpfs'],
        p['allow.set_hostname'],
        p.ip4,
      ],
      ['new', 'inherit', 'disable', true, true, true, 'inherit'],
    );
    assert.equal((await run('ifconfig', '-j', 'c1', '-l')).out, 'lo0\n');
    const b2 = makeBundle(t, {
      annotations: { 'org.freebsd.jail.ip4.addr': '10.0.0.7,10.0.0.8' },
      hostname: undefined,
    });
    const s2 = setup();
    await s2.run('conmon', ...conmonArgs(b2));
    const p2 = s2.h.state().jails['1']!.params;
    assert.deepEqual([p2['ip4.addr'], p2.ip4, p2.host], ['10.0.0.7,10.0.0.8', 'inherit', 'inherit']);
  });

  test('volumes and devfs rules from config.json are mounted, and unmounted by delete', async (t) => {
    const b = makeBundle(t);
    const vol = join(b.root, 'volumes/data');
    mkdirSync(vol, { recursive: true });
    const hosts = join(b.root, 'hosts');
    writeFileSync(hosts, '127.0.0.1\tlocalhost\n');
    const cfg = JSON.parse(readFileSync(join(b.bundle, 'config.json'), 'utf8'));
    cfg.mounts = [
      {
        destination: '/dev',
        type: 'devfs',
        source: 'devfs',
        options: ['ruleset=1000', 'rule=path fuse unhide'],
      },
      { destination: '/data', type: 'nullfs', source: vol, options: ['rw'] },
      { destination: '/var/cache/app', type: 'tmpfs', source: 'tmpfs', options: ['size=16m'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: join(b.root, 'volumes/data') },
      // brig's /etc file mounts: a file source, type bind and Linux's options (ocijail ignores them)
      { destination: '/etc/hosts', type: 'bind', source: hosts, options: ['rbind', 'rprivate', 'ro'] },
    ];
    writeFileSync(join(b.bundle, 'config.json'), JSON.stringify(cfg));
    const { h, run } = setup();
    await run('devfs', 'rule', '-s', '1000', 'add', 'include', '4');
    const before = h.state();
    assert.equal((await run('conmon', ...conmonArgs(b))).code, 0);
    const mounts = h
      .state()
      .mounts.filter((m) => m.target.startsWith(b.rootfs))
      .map((m) => [m.fstype, m.target.slice(b.rootfs.length), m.ruleset ?? null]);
    assert.deepEqual(mounts, [
      ['devfs', '/dev', 1000],
      ['nullfs', '/data', null],
      ['tmpfs', '/var/cache/app', null],
      ['nullfs', '/etc/resolv.conf', null],
      ['nullfs', '/etc/hosts', null],
    ]);
    await run('ocijail', `--root=${join(b.root, 'ocijail')}`, 'delete', 'c1');
    assert.deepEqual(h.state(), before, 'create then delete leaves the host exactly as it was');
  });

  test('conmon refuses missing flags with its own messages, and unknown options', async (t) => {
    const b = makeBundle(t);
    const { h, run } = setup();
    const before = h.state();
    assert.deepEqual(await run('conmon'), {
      code: 1,
      out: '',
      err: 'conmon: Container ID not provided. Use --cid\n',
    });
    assert.deepEqual(await run('conmon', '-c', 'x'), {
      code: 1,
      out: '',
      err: '[conmon:e] Container UUID not provided. Use --cuuid\n',
    });
    assert.deepEqual(await run('conmon', '-c', 'x', '-u', 'x'), {
      code: 1,
      out: '',
      err: '[conmon:e] Runtime path not provided. Use --runtime\n',
    });
    assert.deepEqual(await run('conmon', '-c', 'x', '-u', 'x', '-r', '/usr/local/bin/ocijail'), {
      code: 1,
      out: '',
      err: '[conmon:e] Log driver not provided. Use --log-path\n',
    });
    assert.deepEqual(
      await run('conmon', '-c', 'x', '-u', 'x', '-r', '/usr/local/bin/ocijail', '-l', 'bad:/x'),
      { code: 1, out: '', err: '[conmon:e]: No such log driver bad\n' },
    );
    assert.deepEqual(await run('conmon', '--bogus'), {
      code: 1,
      out: '',
      err: 'conmon: option parsing failed: Unknown option --bogus\n',
    });
    assert.match(
      (
        await run(
          'conmon',
          ...conmonArgs(b).map((a) => (a === '/usr/local/bin/ocijail' ? '/usr/bin/crun' : a)),
        )
      ).err,
      /runtime \/usr\/bin\/crun is not installed/,
    );
    assert.deepEqual(h.state(), before);
  });

  for (const [why, change, message] of [
    [
      'a missing executable',
      { process: { args: ['/bin/nothere'], env: [] } },
      '/bin/nothere: No such file or directory',
    ],
    [
      'a relative command not on PATH',
      { process: { args: ['app2'], env: ['PATH=/bin'] } },
      "'app2' not found in $PATH: No such file or directory",
    ],
    ['an unsupported ociVersion', { ociVersion: '2.0.0' }, 'create: unsupported OCI version 2.0.0'],
    ['no process', { process: undefined }, 'create: malformed config: no process'],
    [
      'a bad sysv annotation',
      { annotations: { 'org.freebsd.jail.sysvsem': 'shared' } },
      'bad value for org.freebsd.jail.sysvsem: shared',
    ],
    [
      'vnet=disable',
      { annotations: { 'org.freebsd.jail.vnet': 'disable' } },
      'bad value for org.freebsd.jail.vnet: disable',
    ],
    ['a missing root', { root: { path: 'nothere' } }, 'must be a directory'],
    [
      'a volume source that does not exist',
      { mounts: [{ destination: '/data', type: 'nullfs', source: '/nonexistent/vol' }] },
      'No such file or directory',
    ],
    [
      // ocijail ignores Linux's rbind/rprivate but hands other options to nmount(2): nullfs refuses them
      'a bind mount with a propagation nullfs does not know (shared)',
      { mounts: [{ destination: '/data', type: 'bind', source: '/', options: ['rbind', 'ro', 'shared'] }] },
      'Invalid argument',
    ],
    [
      'a missing parent jail',
      { annotations: { 'org.freebsd.parentJail': 'pj' } },
      'error calling jail_get: jail "pj" not found',
    ],
    [
      'a terminal without a console socket',
      { process: { args: ['/bin/app'], terminal: true } },
      '--console-socket is required when detached if process.terminal is true',
    ],
  ] as const) {
    test(`create fails, leaving nothing behind, on ${why}`, async (t) => {
      const b = makeBundle(t, change as Record<string, unknown>);
      const { h, run } = setup();
      const before = h.state();
      const r = await run('conmon', ...conmonArgs(b));
      assert.equal(r.code, 1);
      assert.match(r.err, /^\[conmon:e\] Failed to create container: exit status 1\n/);
      assert.ok(r.err.includes(message), r.err);
      assert.deepEqual(h.state(), before);
      assert.equal(existsSync(b.pidfile), false);
    });
  }

  test('ocijail refusals: duplicate id, start twice, delete of a running container, unknown container, CLI errors', async (t) => {
    const b = makeBundle(t);
    const { run } = setup();
    const oroot = `--root=${join(b.root, 'ocijail')}`;
    await run('conmon', ...conmonArgs(b));
    const ts = '2026-01-02T03:04:05000678000Z';
    assert.deepEqual(await run('ocijail', oroot, 'create', '--bundle', b.bundle, 'c1'), {
      code: 1,
      out: '',
      err: `${ts}: container c1 exists\n`,
    });
    await run('ocijail', oroot, 'start', 'c1');
    assert.deepEqual(await run('ocijail', oroot, 'start', 'c1'), {
      code: 1,
      out: '',
      err: `${ts}: start: container not in "created" state (currently "running")\n`,
    });
    assert.deepEqual(await run('ocijail', oroot, 'delete', 'c1'), {
      code: 1,
      out: '',
      err: `${ts}: delete: container not in "stopped" or "created" state (currently "running")\n`,
    });
    assert.deepEqual(await run('ocijail', oroot, 'state', 'nope'), {
      code: 1,
      out: '',
      err: `${ts}: container nope not found\n`,
    });
    assert.deepEqual(
      await run('ocijail', 'state', 'c1'),
      { code: 1, out: '', err: `${ts}: container c1 not found\n` },
      'another --root is another state',
    );
    assert.deepEqual(await run('ocijail', oroot, 'start'), {
      code: 106,
      out: '',
      err: 'container-id is required\nRun with --help for more information.\n',
    });
    assert.deepEqual(await run('ocijail', oroot, 'stop', 'c1'), {
      code: 109,
      out: '',
      err: 'The following argument was not expected: stop\nRun with --help for more information.\n',
    });
    assert.deepEqual(await run('ocijail', oroot, 'delete', '--force', 'c1'), { code: 0, out: '', err: '' });
  });

  test('ocijail exec: detached processes are recorded, others answered by the exec handler', async (t) => {
    const b = makeBundle(t);
    const spec = join(b.root, 'exec.json');
    writeFileSync(spec, JSON.stringify({ args: ['/bin/sh', '-c', 'echo hi'], env: [], cwd: '/' }));
    const { h, run } = setup({ exec: (req) => ({ code: req.argv.length, stdout: `${req.jail}\n` }) });
    const oroot = `--root=${join(b.root, 'ocijail')}`;
    await run('conmon', ...conmonArgs(b));
    assert.deepEqual(await run('ocijail', oroot, 'exec', '--process', spec, 'c1'), {
      code: 3,
      out: 'c1\n',
      err: '',
    });
    const pf = join(b.root, 'exec.pid');
    assert.equal(
      (await run('ocijail', oroot, 'exec', '--detach', '--pid-file', pf, '--process', spec, 'c1')).code,
      0,
    );
    const pid = readFileSync(pf, 'utf8');
    assert.equal(h.state().processes[pid]!.state, 'running');
    assert.equal(
      (await run('ocijail', oroot, 'exec', '--process', join(b.root, 'none.json'), 'c1')).code,
      105,
    );
  });

  test('fork() tries commands on a copy: nothing real is written, the original is untouched', async (t) => {
    const b = makeBundle(t);
    const file = join(b.root, 'sim/freebsd.json');
    const h = SimulatedFreeBSDHost.open({ stateFile: file });
    const saved = readFileSync(file, 'utf8');
    const before = h.state();
    const plan = h.fork();
    assert.equal((await plan.run('conmon', conmonArgs(b))).code, 0);
    assert.deepEqual(
      plan.log.map((l) => l.cmd),
      ['conmon', '/usr/local/bin/ocijail'],
    );
    assert.equal(Object.keys(plan.state().jails).length, 1);
    assert.equal(existsSync(b.pidfile) || existsSync(b.conmonPidfile) || existsSync(b.log), false);
    assert.deepEqual(h.state(), before);
    assert.deepEqual(h.log, []);
    assert.equal(readFileSync(file, 'utf8'), saved);
  });

  test('with a state file, a restarted daemon sees the container and its exit', async (t) => {
    const b = makeBundle(t);
    const file = join(b.root, 'sim/freebsd.json');
    const first = SimulatedFreeBSDHost.open({ stateFile: file });
    await first.run('conmon', conmonArgs(b));
    await first.run('ocijail', [`--root=${join(b.root, 'ocijail')}`, 'start', 'c1']);
    const second = SimulatedFreeBSDHost.open({ stateFile: file });
    assert.match(
      (await second.run('ocijail', [`--root=${join(b.root, 'ocijail')}`, 'state', 'c1'])).stdout.toString(),
      /"status":"running"/,
    );
    await second.exitProcess(1, 42);
    assert.equal(readFileSync(join(b.exitDir, 'c1'), 'utf8'), '42');
    const third = SimulatedFreeBSDHost.open({ stateFile: file });
    assert.match(
      (await third.run('ocijail', [`--root=${join(b.root, 'ocijail')}`, 'state', 'c1'])).stdout.toString(),
      /"status":"stopped"/,
    );
    await assert.rejects(third.exitProcess('c1', 1));
  });
});
