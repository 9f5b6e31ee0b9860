#!/usr/bin/env node
// Runs every test file with node's own test runner (node 20 does not expand globs, and with no
// file argument it finds no .ts tests yet exits 0, so the list is explicit).
//   node scripts/run-tests.mjs [--unit] [FILTER...]
// --unit: only tests beside the code (src/**); otherwise src/** and test/**.
// FILTER: substrings of paths to keep.
// Under BRIG_TEST_REQUIRE_ALL=1 a skipped test is a failure (CI must see every test run).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const unit = args.includes('--unit');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) {
      if (n !== 'node_modules' && n !== 'fixtures') walk(p, out);
    } else if (n.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let files = walk('src', []);
if (!unit) walk('test', files);
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}

const tap = join(tmpdir(), `brig-tests-${process.pid}.tap`);
const env = { ...process.env };
const r = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${process.env.BRIG_TEST_CONCURRENCY ?? '2'}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: 'inherit', env },
);
let summary = '';
try {
  summary = readFileSync(tap, 'utf8');
  rmSync(tap, { force: true });
} catch {}
const count = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(summary)?.[1] ?? 'NaN');
const [tests, pass, fail, skip, todo] = ['tests', 'pass', 'fail', 'skipped', 'todo'].map(count);
console.log(
  `\nrun-tests: ${files.length} files, ${tests} tests, ${pass} passed, ${fail} failed, ${skip} skipped, ${todo} todo`,
);
if (r.status !== 0) process.exit(r.status ?? 1);
if (!(tests > 0)) {
  console.error('run-tests: no test ran');
  process.exit(1);
}
if (process.env.BRIG_TEST_REQUIRE_ALL === '1' && (skip > 0 || todo > 0)) {
  const lines = summary.split('\n').filter((l) => /# (SKIP|TODO)/i.test(l));
  console.error(
    `run-tests: BRIG_TEST_REQUIRE_ALL=1 and ${skip + todo} tests were skipped:\n${lines.join('\n')}`,
  );
  process.exit(1);
}
