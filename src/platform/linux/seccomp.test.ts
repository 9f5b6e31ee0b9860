import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import * as v from 'valibot';
import { validateConfig } from '../../daemon/config.ts';
import { BrigError } from '../../errors/errors.ts';
import { linuxEffects, linuxSysvipc } from '../../policy/effects.ts';
import { defaultPolicy, parsePolicy, parsePrivileges } from '../../policy/index.ts';
import { decide, platformGrant } from '../../privileges/grant.ts';
import { platformOver } from '../create.ts';
import type { BundleInput, PrivilegeGrant } from '../platform.ts';
import { DEFAULT_CAPABILITIES, LinuxPlatform, linuxCapabilities, linuxSection } from './linux-platform.ts';
import {
  CLONE_NEW,
  containerSeccomp,
  DEFAULT_RULES,
  defaultSeccompProfile,
  ENOSYS,
  EPERM,
  type LinuxSeccomp,
  type LinuxSyscall,
  loadSeccompSetting,
  parseKernelVersion,
  type SeccompHost,
  seccompProfileSchema,
  UNSAFE_PERSONALITY,
} from './seccomp.ts';

const X64: SeccompHost = { arch: 'x64', kernel: [6, 1] };
const ARM64: SeccompHost = { arch: 'arm64', kernel: [6, 1] };

/**
 * What a filter answers for one call (as libseccomp builds it: entries for a syscall are
 * alternatives, an entry's comparisons all hold): the errno, or undefined for "allowed".
 * Only the operators brig writes are evaluated; the argument is a 64-bit value.
 */
function verdict(p: LinuxSeccomp | undefined, name: string, arg0 = 0n): number | undefined {
  if (!p) return undefined;
  for (const e of p.syscalls ?? []) {
    if (!e.names.includes(name)) continue;
    const ok = (e.args ?? []).every((a) => {
      assert.equal(a.index, 0);
      assert.equal(a.op, 'SCMP_CMP_MASKED_EQ');
      return (arg0 & BigInt(a.value)) === BigInt(a.valueTwo ?? 0);
    });
    if (ok) {
      assert.equal(e.action, 'SCMP_ACT_ERRNO');
      return e.errnoRet;
    }
  }
  assert.equal(p.defaultAction, 'SCMP_ACT_ALLOW');
  return undefined;
}

const names = (p: LinuxSeccomp | undefined) => new Set((p?.syscalls ?? []).flatMap((e) => e.names));
const plain = defaultSeccompProfile(DEFAULT_CAPABILITIES, X64);
const input = (grant: PrivilegeGrant): BundleInput => ({
  id: 'c',
  daemonTag: 't',
  name: 'n',
  limits: {},
  grant,
  readOnlyRoot: false,
  terminal: false,
});
const sectionSeccomp = (grant: PrivilegeGrant, setting: 'default' | 'unconfined' = 'default') =>
  linuxSection(input(grant), '/x', { setting, host: X64 }).seccomp as LinuxSeccomp | undefined;

describe('the default profile', () => {
  test('is a valid runtime-spec LinuxSeccomp: allow by default, the host’s ABIs', () => {
    assert.ok(v.safeParse(seccompProfileSchema, plain).success);
    assert.equal(plain.defaultAction, 'SCMP_ACT_ALLOW');
    assert.deepEqual(plain.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(defaultSeccompProfile([], ARM64).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.equal(defaultSeccompProfile([], { arch: 'riscv64', kernel: [6, 1] }).architectures, undefined);
    for (const e of plain.syscalls ?? []) {
      assert.equal(e.action, 'SCMP_ACT_ERRNO');
      assert.ok(e.errnoRet === EPERM || e.errnoRet === ENOSYS, e.names.join());
      // libseccomp accepts one comparison per argument in an entry
      const idx = (e.args ?? []).map((a) => a.index);
      assert.equal(new Set(idx).size, idx.length);
    }
  });

  test('denies every syscall of the list, with its errno', () => {
    const eperm = [
      'kexec_load',
      'kexec_file_load',
      'init_module',
      'finit_module',
      'delete_module',
      'bpf',
      'perf_event_open',
      'userfaultfd',
      'keyctl',
      'add_key',
      'request_key',
      'acct',
      'swapon',
      'swapoff',
      'reboot',
      'settimeofday',
      'clock_settime',
      'clock_adjtime',
      'adjtimex',
      'open_by_handle_at',
      'name_to_handle_at',
      'lookup_dcookie',
      'quotactl',
      'nfsservctl',
      'uselib',
      'mount',
      'umount2',
      'pivot_root',
      'setns',
      'iopl',
      'ioperm',
      'vm86',
      'vm86old',
      'kcmp',
      'move_pages',
      'syslog',
    ];
    for (const n of eperm) assert.equal(verdict(plain, n), EPERM, n);
    for (const n of ['clone3', 'io_uring_setup', 'io_uring_enter', 'io_uring_register'])
      assert.equal(verdict(plain, n), ENOSYS, n);
    for (const n of ['read', 'write', 'openat', 'execve', 'ptrace', 'msgget', 'socket', 'chroot'])
      assert.equal(verdict(plain, n), undefined, n);
  });

  test('no syscall is in two rules (libseccomp refuses one syscall with two actions)', () => {
    const seen = new Map<string, number>();
    DEFAULT_RULES.forEach((r, i) => {
      for (const n of r.names) {
        assert.ok(!seen.has(n), `${n} in rules ${seen.get(n)} and ${i}`);
        seen.set(n, i);
      }
    });
  });

  test('clone and unshare: refused exactly when a namespace flag is set', () => {
    const all = Object.values(CLONE_NEW).reduce((a, b) => a | b, 0);
    const forClone = all & ~CLONE_NEW.CLONE_NEWTIME;
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.constantFrom(...Object.values(CLONE_NEW)),
        (flags, one) => {
          assert.equal(verdict(plain, 'unshare', flags), flags & BigInt(all) ? EPERM : undefined);
          assert.equal(verdict(plain, 'clone', flags), flags & BigInt(forClone) ? EPERM : undefined);
          assert.equal(verdict(plain, 'unshare', flags | BigInt(one)), EPERM);
        },
      ),
      { numRuns: 2000 },
    );
    // what glibc passes for fork and pthread_create
    assert.equal(verdict(plain, 'clone', 0x01200011n), undefined);
    assert.equal(verdict(plain, 'clone', 0x003d0f00n), undefined);
    assert.equal(verdict(plain, 'clone', BigInt(CLONE_NEW.CLONE_NEWUSER) | 17n), EPERM);
  });

  test('personality: the query and PER_LINUX32 pass; unsafe flags and bit 31 do not', () => {
    const unsafe = Object.values(UNSAFE_PERSONALITY).reduce((a, b) => a | b, 0);
    const expected = (x: number) =>
      x !== 0xffffffff && ((x & unsafe) !== 0 || x >= 0x80000000) ? EPERM : undefined;
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), (x) => {
        assert.equal(verdict(plain, 'personality', BigInt(x)), expected(x), x.toString(16));
      }),
      { numRuns: 5000 },
    );
    const cases = [0, 8, 0x20000, 0x20008, 0xffffffff, 0xfffffffe, 0x80000000, 0x80040000, 0x40000, 0x400000];
    for (const x of [...cases, ...Array.from({ length: 32 }, (_, b) => 0xffffffff - 2 ** b)])
      assert.equal(verdict(plain, 'personality', BigInt(x)), expected(x), x.toString(16));
  });

  test('ptrace is refused only on kernels before 4.8', () => {
    for (const [k, want] of [
      [[4, 7], EPERM],
      [[3, 10], EPERM],
      [[4, 8], undefined],
      [[6, 18], undefined],
    ] as const)
      assert.equal(verdict(defaultSeccompProfile([], { arch: 'x64', kernel: k }), 'ptrace'), want, `${k}`);
    assert.deepEqual(parseKernelVersion('6.1.0-18-amd64'), [6, 1]);
    assert.deepEqual(parseKernelVersion('4.19.0'), [4, 19]);
  });
});

describe('granted privileges relax the profile through their capabilities', () => {
  test('each capability opens its syscalls and nothing else', () => {
    for (const [cap, examples] of [
      ['CAP_SYS_ADMIN', ['mount', 'umount2', 'fsopen', 'move_mount', 'mount_setattr']],
      ['CAP_SYS_TIME', ['settimeofday', 'clock_settime', 'adjtimex', 'clock_adjtime']],
      ['CAP_SYSLOG', ['syslog']],
      ['CAP_SYS_NICE', ['move_pages', 'migrate_pages']],
    ] as const) {
      const opened = DEFAULT_RULES.filter((r) => r.unlessCapability === cap).flatMap((r) => r.names);
      for (const n of examples) assert.ok(opened.includes(n), n);
      const p = defaultSeccompProfile([...DEFAULT_CAPABILITIES, cap], X64);
      for (const n of opened) {
        assert.equal(verdict(plain, n), EPERM, n);
        assert.equal(verdict(p, n), undefined, `${cap} opens ${n}`);
      }
      const closed = [...names(plain)].filter((n) => !opened.includes(n));
      for (const n of closed)
        if (!['clone', 'unshare', 'personality'].includes(n))
          assert.equal(verdict(p, n), verdict(plain, n), `${cap} leaves ${n}`);
      // CAP_SYS_ADMIN does not open namespaces: no containers inside containers
      assert.equal(verdict(p, 'setns'), EPERM);
      assert.equal(verdict(p, 'unshare', BigInt(CLONE_NEW.CLONE_NEWUSER)), EPERM);
      assert.equal(verdict(p, 'pivot_root'), EPERM);
    }
  });

  test('from the policy: allow.mount.tmpfs, allow.settime, allow.read_msgbuf when granted', () => {
    const policy = parsePolicy({ allow: ['mount.tmpfs', 'settime', 'read_msgbuf'] });
    const req = parsePrivileges({ allow: ['mount.tmpfs', 'settime', 'read_msgbuf'] });
    const d = decide(req, policy);
    assert.deepEqual(d.refusals, []);
    const s = sectionSeccomp(platformGrant(d.grant, d.composed, { os: 'linux', inventory: [] }));
    for (const n of ['mount', 'settimeofday', 'syslog']) assert.equal(verdict(s, n), undefined, n);
    assert.equal(verdict(s, 'bpf'), EPERM);
  });

  test('nothing is opened because an image asks: a refused request leaves the profile whole', () => {
    const req = parsePrivileges({ allow: ['mount.tmpfs', 'settime', 'read_msgbuf'] });
    const d = decide(req, defaultPolicy);
    assert.equal(d.refusals.length, 3);
    const s = sectionSeccomp(platformGrant(d.grant, d.composed, { os: 'linux', inventory: [] }));
    assert.deepEqual(s, sectionSeccomp({}));
    for (const n of ['mount', 'settimeofday', 'syslog']) assert.equal(verdict(s, n), EPERM, n);
  });

  test('the capabilities the profile sees are the process’s: CAP_NET_ADMIN without vnet is dropped', () => {
    const g = { capabilities: ['CAP_SYS_ADMIN'] };
    assert.ok(linuxCapabilities(g).includes('CAP_SYS_ADMIN'));
    assert.equal(verdict(sectionSeccomp(g), 'mount'), undefined);
    assert.equal(verdict(sectionSeccomp({ capabilities: ['CAP_NET_ADMIN'] }), 'mount'), EPERM);
  });
});

describe('composition with SysV IPC disable', () => {
  const MODES = ['new', 'inherit', 'disable'] as const;
  const combos = MODES.flatMap((msg) => MODES.flatMap((shm) => MODES.map((sem) => ({ msg, shm, sem }))));

  test('all 27 combinations: one filter, the default rules and the disabled classes (ENOSYS)', () => {
    for (const sysvipc of combos) {
      const label = JSON.stringify(sysvipc);
      const denied = linuxSysvipc(sysvipc).deniedSyscalls;
      const s = sectionSeccomp({ sysvipc });
      assert.ok(v.safeParse(seccompProfileSchema, s).success, label);
      for (const e of plain.syscalls ?? [])
        assert.ok(
          s?.syscalls?.some((x) => deepEq(x, e)),
          label,
        );
      for (const n of ['msgget', 'msgsnd', 'shmget', 'shmat', 'semget', 'semop'])
        assert.equal(verdict(s, n), denied.includes(n) ? ENOSYS : undefined, `${label} ${n}`);
      // the i386 multiplexer: ipc(MSGGET=13 | SHMGET=23 | SEMGET=2), version in the high bits
      for (const [n, call] of [
        ['msgget', 13n],
        ['shmget', 23n],
        ['semget', 2n],
      ] as const) {
        assert.equal(verdict(s, 'ipc', call), denied.includes(n) ? ENOSYS : undefined, `${label} ipc ${n}`);
        assert.equal(verdict(s, 'ipc', call | 0x10000n), denied.includes(n) ? ENOSYS : undefined);
      }
      const u = sectionSeccomp({ sysvipc }, 'unconfined');
      if (denied.length === 0) assert.equal(u, undefined, label);
      else {
        assert.equal(verdict(u, 'bpf'), undefined, 'unconfined keeps only the IPC rules');
        for (const n of denied) assert.equal(verdict(u, n), ENOSYS, n);
      }
      assert.deepEqual(linuxEffects({ ...grantBase, sysvipc }).deniedSyscalls, denied);
    }
  });

  test('an operator profile gets the IPC rules, its own entries for them dropped', () => {
    const own: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['read', 'write', 'msgget', 'msgsnd'], action: 'SCMP_ACT_ALLOW' },
        { names: ['msgctl'], action: 'SCMP_ACT_ALLOW' },
      ],
    };
    const s = containerSeccomp({
      setting: { path: '/p.json', profile: own },
      capabilities: [],
      ipcDenied: linuxSysvipc({ msg: 'disable' }).deniedSyscalls,
      host: X64,
    });
    assert.equal(s?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(s?.syscalls?.[0], { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' });
    assert.equal(s?.syscalls?.filter((e) => e.names.includes('msgget')).length, 1);
    assert.equal(verdict({ ...s!, defaultAction: 'SCMP_ACT_ALLOW' }, 'msgget'), ENOSYS);
    // without a disabled class the operator's profile is used as given
    assert.deepEqual(
      containerSeccomp({
        setting: { path: '/p.json', profile: own },
        capabilities: [],
        ipcDenied: [],
        host: X64,
      }),
      own,
    );
  });
});

const grantBase = {
  devfs: [],
  allow: [],
  vnet: false,
  childrenMax: 0,
  securelevel: -1,
  items: [],
  overrides: [],
};
const deepEq = (a: LinuxSyscall, b: LinuxSyscall) => JSON.stringify(a) === JSON.stringify(b);

describe('runtime.seccomp', () => {
  test('config: default, unconfined or an absolute path', () => {
    assert.equal(validateConfig({}).runtime.seccomp, 'default');
    assert.equal(validateConfig({ runtime: { seccomp: 'unconfined' } }).runtime.seccomp, 'unconfined');
    assert.equal(
      validateConfig({ runtime: { seccomp: '/etc/brig/s.json' } }).runtime.seccomp,
      '/etc/brig/s.json',
    );
    for (const bad of ['relative.json', 'off', 3])
      assert.throws(
        () => validateConfig({ runtime: { seccomp: bad } }),
        (e: unknown) => e instanceof BrigError && e.code === 'ERR_CONFIG_INVALID',
      );
  });

  test('the platform of a plan (--dry-run) keeps the daemon’s setting', async () => {
    for (const setting of ['default', 'unconfined', { path: '/p.json', profile: plain }] as const) {
      const daemons = new LinuxPlatform({ seccomp: setting });
      const plan = await platformOver('linux', daemons.runner, daemons);
      assert.ok(plan instanceof LinuxPlatform);
      assert.deepEqual(plan.seccompSetting, setting);
    }
    assert.equal(new LinuxPlatform().seccompSetting, 'default');
  });

  test('a profile file is read and validated at start', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'brig-seccomp-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(await loadSeccompSetting('default'), 'default');
    assert.equal(await loadSeccompSetting('unconfined'), 'unconfined');
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(plain));
    assert.deepEqual(await loadSeccompSetting(good), { path: good, profile: plain });
    const code = async (p: string) => {
      try {
        await loadSeccompSetting(p);
        return 'none';
      } catch (e) {
        return (e as BrigError).code;
      }
    };
    assert.equal(await code(join(dir, 'missing.json')), 'ERR_CONFIG_UNREADABLE');
    writeFileSync(join(dir, 'broken.json'), '{');
    assert.equal(await code(join(dir, 'broken.json')), 'ERR_CONFIG_UNREADABLE');
    for (const [i, bad] of [
      { syscalls: [] },
      { defaultAction: 'ALLOW' },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] },
      { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'x', action: 'SCMP_ACT_ERRNO' }] },
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [
          { names: ['x'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] },
        ],
      },
    ].entries()) {
      const f = join(dir, `bad${i}.json`);
      writeFileSync(f, JSON.stringify(bad));
      assert.equal(await code(f), 'ERR_CONFIG_INVALID', JSON.stringify(bad));
    }
  });
});

test('docs/privileges.md names every syscall of the default profile', () => {
  const doc = readFileSync(new URL('../../../docs/privileges.md', import.meta.url), 'utf8');
  for (const r of DEFAULT_RULES) for (const n of r.names) assert.ok(doc.includes(`\`${n}\``), n);
});
