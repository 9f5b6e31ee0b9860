#!/usr/bin/env node
// Start-up benchmark (issue 2): `brig --version` (the built dist/brig.mjs) vs node's own start-up
// (`node -e 0`) and vs node loading an empty ES module, alternated over many rounds in one run.
//
//   unset NODE_EXTRA_CA_CERTS; npm run build; node bench/startup.mjs [--rounds N]
//
// NODE_EXTRA_CA_CERTS is removed from the children's environment (it adds ~60 ms to each start).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 60;
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const dir = mkdtempSync(join(tmpdir(), 'brig-startup-'));
const empty = join(dir, 'empty.mjs');
writeFileSync(empty, '');
const brig = join(here, '../dist/brig.mjs');

const cases = {
  'node -e 0': [process.execPath, '-e', '0'],
  'node empty.mjs': [process.execPath, empty],
  'brig --version': [process.execPath, brig, '--version'],
  'brig --help (whole program loaded)': [process.execPath, brig, '--help'],
};
const names = Object.keys(cases);
const results = Object.fromEntries(names.map((n) => [n, []]));
const run = (n) => {
  const [cmd, ...args] = cases[n];
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${n} exited with ${r.status}`);
  return ms;
};
for (const n of names) for (let i = 0; i < 3; i++) run(n); // warm-up
for (let r = 0; r < rounds; r++)
  for (const n of r % 2 ? [...names].reverse() : names) results[n].push(run(n));
rmSync(dir, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results['node -e 0']);
console.log(
  `${rounds} rounds, ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
);
console.log('| command | median ms | min ms | vs node -e 0 | above node -e 0 |');
console.log('|---|---:|---:|---:|---:|');
for (const n of names) {
  const m = median(results[n]);
  console.log(
    `| ${n} | ${m.toFixed(1)} | ${Math.min(...results[n]).toFixed(1)} | ${(m / base).toFixed(2)}x | +${(m - base).toFixed(1)} ms |`,
  );
}
