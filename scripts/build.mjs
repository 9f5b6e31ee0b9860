#!/usr/bin/env node
// Bundles the CLI and the daemon with esbuild into dist/. Native addons stay external.
// The createRequire banner lets bundled CommonJS dependencies call require() from ESM.
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const banner =
  "#!/usr/bin/env node\nimport { createRequire as __brigCreateRequire } from 'node:module';\nconst require = __brigCreateRequire(import.meta.url);";

mkdirSync('dist', { recursive: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  external: ['better-sqlite3', 'zstd-napi'],
  banner: { js: banner },
  define: { BRIG_VERSION: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};
// The CLI is split: dist/brig.mjs (ES module) is a small entry that answers `brig --version` and loads the
// program (commander and every command, dist/brig-program-*.mjs) only when it is needed.
// Chunks of earlier builds are removed after the new ones are written, and only once they are an
// hour old: builds running at the same time in one checkout (each `npm test` builds) must not
// delete each other's chunks, and a brig started meanwhile must find the chunk its entry names.
const [cli] = await Promise.all([
  build({
    ...common,
    entryPoints: { brig: 'src/cli/main.ts', 'brig-full': 'src/cli/via-program.ts' },
    outdir: 'dist',
    splitting: true,
    chunkNames: 'brig-[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    metafile: true,
  }),
  build({ ...common, entryPoints: ['src/daemon/main.ts'], outfile: 'dist/brigd.mjs' }),
  // the installed `brig`: a small CommonJS entry (node starts it ~4 ms sooner than an ES module)
  // that requires the fast paths of run, push and pull (dist/brig-fast.cjs) and imports
  // dist/brig-full.mjs for anything else (src/cli/main-cjs.ts)
  build({
    ...common,
    entryPoints: ['src/cli/main-cjs.ts'],
    outfile: 'dist/brig.cjs',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
  }),
  build({
    ...common,
    entryPoints: ['src/cli/fast-paths.ts'],
    outfile: 'dist/brig-fast.cjs',
    format: 'cjs',
    banner: {},
  }),
]);
const written = new Set(Object.keys(cli.metafile.outputs).map((p) => basename(p)));
const anHourAgo = Date.now() - 3600_000;
for (const f of readdirSync('dist')) {
  if (!/^brig-.*\.mjs(\.map)?$/.test(f) || written.has(f)) continue;
  try {
    if (statSync(`dist/${f}`).mtimeMs < anHourAgo) rmSync(`dist/${f}`, { force: true });
  } catch {}
}
for (const out of ['dist/brig.cjs', 'dist/brig.mjs', 'dist/brigd.mjs']) chmodSync(out, 0o755);
