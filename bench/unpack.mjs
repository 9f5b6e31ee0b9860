#!/usr/bin/env node
// Unpack benchmark (issue 2): brig's applyLayer vs `tar -xzf` vs `umoci unpack`, on the Debian
// image of ../shared/fixtures/make-debian-image.sh (one ~51 MB gzip layer), on a tmpfs this
// script mounts itself, alternating the tools over several rounds.
//
//   unset NODE_EXTRA_CA_CERTS; node --import tsx bench/unpack.mjs [--rounds N]
//
// Needs root, umoci, debootstrap (first run only: builds the fixture under /var/tmp/brig-bench,
// a few minutes; later runs reuse it). Columns:
//   brig (in-process)  applyLayer() called in this process (what brigd does)
//   brig (process)     a fresh `node` running an esbuild bundle of applyLayer: start-up included,
//                      as a CLI would pay it
//   brig image unpack  the real command: `brig image unpack` through a brigd running on the tmpfs
//                      (dist/, `npm run build`; the image imported once before the rounds);
//                      client start-up, the API round trip and the daemon's unpack included
//   tar -xzf           GNU tar (with its gzip child) as root
//   umoci unpack       the whole image into a runtime bundle
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { applyLayer } from '../src/layers/index.ts';
import { diffSnapshots, snapshot } from '../test/integration/layers-helpers.ts';
import { BRIG, BRIGD, checkBenchEnv, debianLayout, mountTmpfs, startBrigd, unmountTmpfs } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 7;
checkBenchEnv('tar/umoci must restore owners; tmpfs mount');
const LAYOUT = debianLayout();

const blob = (d) => join(LAYOUT, 'blobs', 'sha256', d.replace('sha256:', ''));
const index = JSON.parse(readFileSync(join(LAYOUT, 'index.json'), 'utf8'));
const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
const layerDesc = manifest.layers[0];
const tag = index.manifests[0].annotations['org.opencontainers.image.ref.name'];

const mnt = mountTmpfs('/var/tmp/brig-bench-mnt-', '4g');
let brigd; // { daemon, brig } from startBrigd
const cleanup = () => {
  brigd?.daemon.kill('SIGTERM');
  unmountTmpfs(mnt);
};
process.on('exit', cleanup);

try {
  // Everything the tools read lives on the tmpfs too.
  execFileSync('cp', ['-a', LAYOUT, join(mnt, 'layout')]);
  const layer = join(mnt, 'layout', 'blobs', 'sha256', layerDesc.digest.replace('sha256:', ''));
  const bundle = join(mnt, 'apply.mjs');
  await build({
    stdin: {
      contents: `import { createReadStream } from 'node:fs';
import { applyLayer } from ${JSON.stringify(join(here, '../src/layers/index.ts'))};
const [layer, root, digest] = process.argv.slice(2);
await applyLayer(createReadStream(layer, { highWaterMark: 1 << 20 }), { root, expectedDigest: digest });`,
      resolveDir: here,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    external: ['zstd-napi'],
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);",
    },
  });
  // the bundle resolves zstd-napi from the project
  execFileSync('ln', ['-s', join(here, '../node_modules'), join(mnt, 'node_modules')]);

  // brigd on the tmpfs, the image imported once: `brig image unpack` is then timed per round
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (!existsSync(BRIGD) || !existsSync(BRIG)) throw new Error('dist/ missing: run `npm run build` first');
  brigd = await startBrigd(mnt, env);
  brigd.brig(['image', 'import', join(mnt, 'layout'), 'bench-debian:1']);

  const time = (f) => {
    const t = process.hrtime.bigint();
    const r = f();
    return r instanceof Promise
      ? r.then(() => Number(process.hrtime.bigint() - t) / 1e6)
      : Number(process.hrtime.bigint() - t) / 1e6;
  };
  const fresh = (name) => {
    const d = join(mnt, name);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    return d;
  };
  const tools = {
    'brig (in-process)': async () => {
      const d = fresh('brig');
      return time(() =>
        applyLayer(createReadStream(layer, { highWaterMark: 1 << 20 }), {
          root: d,
          expectedDigest: layerDesc.digest,
        }),
      );
    },
    'brig (process)': async () => {
      const d = fresh('brigp');
      return time(() =>
        execFileSync(process.execPath, [bundle, layer, d, layerDesc.digest], { stdio: 'inherit' }),
      );
    },
    'brig image unpack (CLI via brigd)': async () => {
      const d = join(mnt, 'cli');
      rmSync(d, { recursive: true, force: true });
      return time(() => brigd.brig(['image', 'unpack', 'bench-debian:1', d]));
    },
    'tar -xzf': async () => {
      const d = fresh('tar');
      return time(() => execFileSync('tar', ['-xzf', layer, '-C', d], { stdio: 'inherit' }));
    },
    'umoci unpack': async () => {
      const d = join(mnt, 'umoci');
      rmSync(d, { recursive: true, force: true });
      return time(() =>
        execFileSync('umoci', ['unpack', '--image', `${join(mnt, 'layout')}:${tag}`, d], { stdio: 'ignore' }),
      );
    },
  };
  const names = Object.keys(tools);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) await tools[n](); // warm-up round, not counted
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) results[n].push(await tools[n]());
  }
  // What was timed must be right: brig's tree equals tar's (type, mode, owner, size, content,
  // link target, device; GNU tar's directory mtimes are not compared, see bench/README.md).
  const diff = diffSnapshots(
    snapshot(join(mnt, 'tar'), { mtime: false }),
    snapshot(join(mnt, 'brig'), { mtime: false }),
  );
  if (diff.length > 0) throw new Error(`brig and tar trees differ:\n${diff.slice(0, 20).join('\n')}`);
  const cliDiff = diffSnapshots(
    snapshot(join(mnt, 'tar'), { mtime: false }),
    snapshot(join(mnt, 'cli'), { mtime: false }),
  );
  if (cliDiff.length > 0)
    throw new Error(`brig image unpack and tar trees differ:\n${cliDiff.slice(0, 20).join('\n')}`);
  for (const d of ['brig', 'brigp', 'cli', 'tar', 'umoci'])
    rmSync(join(mnt, d), { recursive: true, force: true });

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const tarMed = median(results['tar -xzf']);
  const umociMed = median(results['umoci unpack']);
  console.log('brig (applyLayer and brig image unpack) and tar -xzf gave the same tree');
  console.log(`\nDebian ${tag}: layer ${layerDesc.size} bytes gzip, ${rounds} rounds (alternating), tmpfs`);
  console.log(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  console.log('| tool | median ms | min ms | max ms | vs tar -xzf | vs umoci |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const n of names) {
    const xs = results[n];
    const m = median(xs);
    console.log(
      `| ${n} | ${m.toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} | ${(m / tarMed).toFixed(2)}x | ${(m / umociMed).toFixed(2)}x |`,
    );
  }
} finally {
  cleanup();
}
