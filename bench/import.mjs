#!/usr/bin/env node
// Import benchmark (issue 2): brig's image import of the Debian image's OCI layout vs
// `skopeo copy oci:A oci:B`, on a tmpfs this script mounts itself, alternating over rounds.
//
//   unset NODE_EXTRA_CA_CERTS; node --import tsx bench/import.mjs [--rounds N]
//
// Needs root, skopeo; the fixture (../shared/fixtures/make-debian-image.sh, one ~51 MB gzip layer)
// is built once into /var/tmp/brig-bench/debian (shared with bench/unpack.mjs) when absent.
// Columns:
//   brig (in-process)  LocalImageService.import() in this process, a fresh brig root each round
//                      (what brigd does for `brig image import`)
//   brig (CLI)         `brig image import` through a running brigd (dist/, `npm run build`):
//                      client start-up and the API round trip included; the image is removed
//                      and its blobs collected between rounds, so every round copies everything
//   skopeo copy        `skopeo copy oci:A:TAG oci:B:TAG` into a fresh directory
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../src/content/local-store.ts';
import { LocalImageService } from '../src/images/local-image-service.ts';
import { openDatabase } from '../src/metadata/db.ts';
import { BRIG, BRIGD, checkBenchEnv, debianLayout, mountTmpfs, startBrigd, unmountTmpfs } from './common.mjs';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 7;
checkBenchEnv();
const LAYOUT = debianLayout();
const index = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8'));
const tag = index.manifests[0].annotations['org.opencontainers.image.ref.name'];

const mnt = mountTmpfs('/var/tmp/brig-bench-mnt-', '2g');
let brigd; // { daemon, brig } from startBrigd
const cleanup = () => {
  brigd?.daemon.kill('SIGTERM');
  unmountTmpfs(mnt);
};
process.on('exit', cleanup);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

try {
  const src = join(mnt, 'layout');
  execFileSync('cp', ['-a', LAYOUT, src]);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;

  const cli = existsSync(BRIGD) && existsSync(BRIG);
  if (cli) brigd = await startBrigd(mnt, env);

  const results = { brig: [], cli: [], skopeo: [] };
  for (let i = 0; i < rounds; i++) {
    // brig, in-process, fresh root
    const root = join(mnt, `brig-${i}`);
    mkdirSync(root);
    const db = openDatabase(join(root, 'brig.db'));
    const images = new LocalImageService({
      content: new LocalContentStore(root, db),
      db,
      platform: { os: 'linux', architecture: 'amd64' },
    });
    let t0 = process.hrtime.bigint();
    await images.import(src, { name: 'debian:bookworm' });
    results.brig.push(ms(t0));
    db.close();
    rmSync(root, { recursive: true, force: true });

    // skopeo, fresh destination
    const dest = join(mnt, `skopeo-${i}`);
    t0 = process.hrtime.bigint();
    execFileSync('skopeo', ['copy', '-q', `oci:${src}:${tag}`, `oci:${dest}:${tag}`]);
    results.skopeo.push(ms(t0));
    rmSync(dest, { recursive: true, force: true });

    if (cli) {
      t0 = process.hrtime.bigint();
      brigd.brig(['image', 'import', src, 'debian:bookworm']);
      results.cli.push(ms(t0));
      brigd.brig(['image', 'rm', 'debian:bookworm']);
    }
  }
  console.log(JSON.stringify(results, (_k, v) => (typeof v === 'number' ? Math.round(v) : v)));
  const s = median(results.skopeo);
  const line = (name, xs) =>
    xs.length
      ? `| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${(median(xs) / s).toFixed(2)}x |`
      : `| ${name} | n/a | | |`;
  console.log(`\nImport of the Debian layout (one 51 MB gzip layer), ${rounds} rounds, tmpfs`);
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${execFileSync('skopeo', ['--version'], { encoding: 'utf8' }).trim()}`,
  );
  console.log('| tool | median ms | min ms | vs skopeo |\n|---|---|---|---|');
  console.log(line('brig (in-process)', results.brig));
  console.log(line('brig (CLI via brigd)', results.cli));
  console.log(line('skopeo copy oci→oci', results.skopeo));
} finally {
  cleanup();
}
