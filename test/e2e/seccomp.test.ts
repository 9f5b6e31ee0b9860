/**
 * Seccomp with real containers (built brigd, runc under conmon, the busybox fixture): every
 * container runs under brig's default profile, denied calls fail with the profile's errno,
 * granted privileges open their calls, SysV IPC `disable` composes with the profile, and
 * `runtime.seccomp: unconfined` or a profile file change it. The calls are made by
 * ./seccomp-probe.c, compiled here with `gcc -static` and bound read-only into the container;
 * its `...32` probes enter the kernel through int $0x80 (the i386 ABI, x86_64 hosts only).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BRIGD, childEnv, startDaemon, type TestDaemon } from '../support/daemon.ts';
import { requires } from '../support/require.ts';
import { tempDir } from '../support/tmp.ts';
import { importPrivileged, runSh } from './privileges-support.ts';

const needs = requires({ root: true, linux: true, commands: ['runc', 'conmon', 'umoci', 'gcc'] });
const X64 = process.arch === 'x64';

/** Compiles the probe into a fresh directory (bound at /probe in containers). */
function buildProbe(t: TestContext): string {
  const dir = tempDir(t, 'brig-seccomp-');
  const src = fileURLToPath(new URL('./seccomp-probe.c', import.meta.url));
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-o', join(dir, 'probe'), src, '-lpthread']);
  return dir;
}

const policy = (dir: string, extra: Record<string, unknown> = {}) => ({
  bindMounts: [dir],
  sysvipc: { msg: ['new', 'disable'], shm: ['new', 'disable'], sem: ['new', 'disable'] },
  ...extra,
});

/** Runs the probe on `probes` in a container of `image`: `Seccomp:` of the container, then each result. */
async function probe(d: TestDaemon, image: string, dir: string, probes: string[]) {
  const { exitCode, out } = await runSh(
    d,
    image,
    `grep '^Seccomp:' /proc/self/status; /probe/probe ${probes.join(' ')}`,
    { mounts: [{ kind: 'volume', value: `${dir}:/probe:ro` }] },
  );
  assert.equal(exitCode, 0, out);
  const results: Record<string, string> = {};
  for (const m of out.matchAll(/^([\w-]+)=(\S+)$/gm)) results[m[1]!] = m[2]!;
  const mode = /^Seccomp:\s*(\d)/m.exec(out)?.[1];
  return { mode, results, out };
}

const info = (d: TestDaemon) => d.client.request<{ runtime: { seccomp?: string } }>('GET', '/system/info');

/** Keeps the i386 probes only where the host runs them. */
const on = (r: Record<string, string>) =>
  Object.fromEntries(Object.entries(r).filter(([k]) => X64 || !k.endsWith('32')));

/** What brig's default profile answers for a plain container. */
const DEFAULT_ANSWERS = on({
  'personality-query': 'ok',
  'personality-linux32': 'ok',
  'personality-noaslr': 'EPERM',
  'personality-noaslr-bit31': 'EPERM',
  'personality-exec': 'EPERM',
  'unshare-user': 'EPERM',
  'unshare-fs': 'ok',
  'clone-newuser': 'EPERM',
  clone3: 'ENOSYS',
  fork: 'ok',
  // glibc's pthread_create tries clone3, gets ENOSYS and falls back to clone
  pthread: 'ok',
  keyctl: 'EPERM',
  kcmp: 'EPERM',
  io_uring: 'ENOSYS',
  userfaultfd: 'EPERM',
  perf: 'EPERM',
  'mount-tmpfs': 'EPERM',
  syslog: 'EPERM',
  settimeofday: 'EPERM',
  msgget: 'ok',
  shmget: 'ok',
  msgget32: 'ok',
  'unshare-user32': 'EPERM',
  'personality-noaslr32': 'EPERM',
  getpid32: 'ok',
});

describe('seccomp in Linux containers', { concurrency: false }, () => {
  test(
    'the default profile: Seccomp 2, each denied call fails with its errno, the rest works',
    needs,
    async (t) => {
      const dir = buildProbe(t);
      const d = await startDaemon(t, { config: { policy: policy(dir) } });
      await importPrivileged(t, d, 'plain:1', {});
      const r = await probe(d, 'plain:1', dir, Object.keys(DEFAULT_ANSWERS));
      assert.equal(r.mode, '2', r.out);
      assert.equal((await info(d)).runtime.seccomp, 'default');
      assert.deepEqual(r.results, DEFAULT_ANSWERS, r.out);
    },
  );

  test('granted privileges open their calls; namespaces stay closed', needs, async (t) => {
    const dir = buildProbe(t);
    const allow = ['mount.tmpfs', 'settime', 'read_msgbuf'];
    const d = await startDaemon(t, { config: { policy: policy(dir, { allow }) } });
    await importPrivileged(t, d, 'granted:1', { allow });
    const names = ['mount-tmpfs', 'settimeofday', 'syslog', 'unshare-user', 'clone-newuser', 'kcmp'];
    const r = await probe(d, 'granted:1', dir, names);
    assert.equal(r.mode, '2', r.out);
    // settimeofday(NULL, NULL) checks CAP_SYS_TIME and changes nothing
    assert.deepEqual(
      r.results,
      {
        'mount-tmpfs': 'ok',
        settimeofday: 'ok',
        syslog: 'ok',
        'unshare-user': 'EPERM',
        'clone-newuser': 'EPERM',
        kcmp: 'EPERM',
      },
      r.out,
    );
  });

  test('sysvipc disable composes with the profile: one filter, both kinds of rule', needs, async (t) => {
    const dir = buildProbe(t);
    const d = await startDaemon(t, { config: { policy: policy(dir) } });
    await importPrivileged(t, d, 'nomsg:1', { sysvipc: { msg: 'disable' } });
    const r = await probe(d, 'nomsg:1', dir, ['msgget', 'shmget', 'msgget32', 'shmget32', 'kcmp', 'clone3']);
    assert.equal(r.mode, '2', r.out);
    assert.deepEqual(
      r.results,
      on({
        msgget: 'ENOSYS',
        shmget: 'ok',
        msgget32: 'ENOSYS',
        shmget32: 'ok',
        kcmp: 'EPERM',
        clone3: 'ENOSYS',
      }),
      r.out,
    );
  });

  test('runtime.seccomp unconfined: no filter, the same calls are not refused', needs, async (t) => {
    const dir = buildProbe(t);
    const d = await startDaemon(t, { config: { runtime: { seccomp: 'unconfined' }, policy: policy(dir) } });
    await importPrivileged(t, d, 'plain:1', {});
    await importPrivileged(t, d, 'nomsg:1', { sysvipc: { msg: 'disable' } });
    const works = on({
      'personality-noaslr': 'ok',
      'unshare-user': 'ok',
      'clone-newuser': 'ok',
      clone3: 'ok',
      keyctl: 'ok',
      kcmp: 'ok',
      userfaultfd: 'ok',
      'unshare-user32': 'ok',
      'personality-noaslr32': 'ok',
    });
    // these depend on the host's sysctls as well: only seccomp's answer is ruled out
    const notSeccomps = { io_uring: 'ENOSYS', perf: 'EPERM' };
    const r = await probe(d, 'plain:1', dir, [...Object.keys(works), ...Object.keys(notSeccomps)]);
    assert.equal(r.mode, '0', r.out);
    assert.equal((await info(d)).runtime.seccomp, 'unconfined');
    for (const [k, want] of Object.entries(works)) assert.equal(r.results[k], want, `${k}: ${r.out}`);
    for (const [k, seccomps] of Object.entries(notSeccomps)) {
      assert.ok(r.results[k], r.out);
      assert.notEqual(r.results[k], seccomps, `${k}: ${r.out}`);
    }
    // the SysV IPC rules remain, alone
    const n = await probe(d, 'nomsg:1', dir, ['msgget', 'kcmp']);
    assert.equal(n.mode, '2', n.out);
    assert.deepEqual(n.results, { msgget: 'ENOSYS', kcmp: 'ok' }, n.out);
  });

  test('runtime.seccomp naming a profile file: applied as written', needs, async (t) => {
    const dir = buildProbe(t);
    const file = join(tempDir(t), 'profile.json');
    writeFileSync(
      file,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['kcmp'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }],
      }),
    );
    const d = await startDaemon(t, { config: { runtime: { seccomp: file }, policy: policy(dir) } });
    await importPrivileged(t, d, 'plain:1', {});
    const r = await probe(d, 'plain:1', dir, ['kcmp', 'unshare-user', 'clone3']);
    assert.equal(r.mode, '2', r.out);
    assert.deepEqual(r.results, { kcmp: 'E13', 'unshare-user': 'ok', clone3: 'ok' }, r.out);
  });

  test('brigd refuses to start with a profile file it cannot read or that is no LinuxSeccomp', needs, (t) => {
    const dir = tempDir(t);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'kcmp' }] }));
    for (const [file, code] of [
      [bad, 'ERR_CONFIG_INVALID'],
      [join(dir, 'missing.json'), 'ERR_CONFIG_UNREADABLE'],
    ] as const) {
      const cfg = join(dir, 'brig.yaml');
      writeFileSync(cfg, `runtime:\n  seccomp: ${file}\n`);
      const r = spawnSync(
        process.execPath,
        [BRIGD, '--root', join(dir, 'root'), '--socket', join(dir, 's.sock'), '--config', cfg],
        { env: childEnv(), encoding: 'utf8' },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`\\(${code}\\)`));
    }
  });
});
