#!/usr/bin/env node
// Start-up benchmark (issue 2): the built CLI's entries, dist/brig.cjs (installed as `brig`) and
// dist/brig.mjs, against node's own start-up (`node -e 0`) and node loading an empty CommonJS
// file and an empty ES module, alternated over many rounds in one run. `brig push -q` is timed
// against a stand-in brigd (another node process on a unix socket that answers at once): the CLI's
// whole share of a push, from exec to exit.
//
//   unset NODE_EXTRA_CA_CERTS; npm run build; node bench/startup.mjs [--rounds N]
//
// NODE_EXTRA_CA_CERTS is removed from the children's environment (it adds ~60 ms to each start).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 60;
const env = { ...process.env };
delete env.NODE_EXTRA_CA_CERTS;
const dir = mkdtempSync(join(tmpdir(), 'brig-startup-'));
writeFileSync(join(dir, 'empty.mjs'), '');
writeFileSync(join(dir, 'empty.cjs'), '');
const cjs = join(here, '../dist/brig.cjs');
const esm = join(here, '../dist/brig.mjs');

// the stand-in brigd: every request gets a push result
const sock = join(dir, 'brigd.sock');
const server = spawn(
  process.execPath,
  [
    '-e',
    `const body = JSON.stringify({ result: { name: 'r.test/x:1', digest: 'sha256:${'0'.repeat(64)}', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 } }) + '\\n';
require('node:net').createServer((s) => s.once('data', () => s.end('HTTP/1.1 200 OK\\r\\nContent-Type: application/x-ndjson\\r\\nContent-Length: ' + body.length + '\\r\\nConnection: close\\r\\n\\r\\n' + body))).listen(${JSON.stringify(sock)});`,
  ],
  { env, stdio: 'ignore' },
);
for (let i = 0; !existsSync(sock); i++) {
  if (i > 200) throw new Error('the stand-in brigd did not start');
  await new Promise((r) => setTimeout(r, 10));
}
const push = ['-H', `unix://${sock}`, 'push', '-q', 'r.test/x:1'];

const cases = {
  'node -e 0': [process.execPath, '-e', '0'],
  'node empty.cjs': [process.execPath, join(dir, 'empty.cjs')],
  'node empty.mjs': [process.execPath, join(dir, 'empty.mjs')],
  'brig --version (brig.cjs)': [process.execPath, cjs, '--version'],
  'brig --version (brig.mjs)': [process.execPath, esm, '--version'],
  'brig push -q, stand-in brigd (brig.cjs)': [process.execPath, cjs, ...push],
  'brig push -q, stand-in brigd (brig.mjs)': [process.execPath, esm, ...push],
  'brig --help, whole program (brig.cjs)': [process.execPath, cjs, '--help'],
  'brig --help, whole program (brig.mjs)': [process.execPath, esm, '--help'],
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
try {
  for (const n of names) for (let i = 0; i < 3; i++) run(n); // warm-up
  for (let r = 0; r < rounds; r++)
    for (const n of r % 2 ? [...names].reverse() : names) results[n].push(run(n));
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}

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
