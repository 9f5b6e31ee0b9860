import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProcCgroup, scopeParent } from './cgroups.ts';
import { clampRlimitsTo, parseHardLimits } from './linux-platform.ts';

test('/proc/PID/cgroup, hybrid host', () => {
  const m = parseProcCgroup('4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/\n');
  assert.equal(m.get('memory'), '/process_api/x');
  assert.equal(m.get('cpuacct'), '/');
  assert.equal(m.get(''), '/');
  assert.equal(scopeParent('/process_api/x', 'tag'), '/process_api/x/brig-tag');
  assert.equal(scopeParent('/', 'tag'), '/brig-tag');
});

test('rlimits are clamped to the hard limits of /proc/self/limits', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             96365                96365                processes ',
    'Max open files            20000                20000                files     ',
    'Max core file size        0                    unlimited            bytes     ',
  ].join('\n');
  const hard = parseHardLimits(text);
  assert.equal(hard.get('RLIMIT_NOFILE'), 20000);
  assert.equal(hard.get('RLIMIT_CORE'), Number.POSITIVE_INFINITY);
  assert.deepEqual(
    clampRlimitsTo(
      [
        { type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 },
        { type: 'RLIMIT_NPROC', soft: 10, hard: 4194304 },
        { type: 'RLIMIT_CORE', soft: 5, hard: 7 },
      ],
      hard,
    ),
    [
      { type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 10, hard: 96365 },
      { type: 'RLIMIT_CORE', soft: 5, hard: 7 },
    ],
  );
});
