/**
 * The CLI is a thin client: nothing it bundles may open brig's state (brig.db, the content store,
 * layers on disk) or construct the daemon's implementations. Checked on the import graph esbuild
 * bundles into dist/brig.mjs, so a new import anywhere under src/cli or src/client is caught.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';

test('the CLI bundle imports nothing that touches brigd state', async () => {
  const r = await build({
    entryPoints: ['src/cli/main.ts', 'src/cli/main-cjs.ts', 'src/cli/fast-paths.ts'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    splitting: true,
    outdir: 'dist-boundary-check',
    external: ['better-sqlite3', 'zstd-napi'],
    logLevel: 'silent',
  });
  const inputs = Object.keys(r.metafile.inputs);
  assert.ok(inputs.includes('src/cli/commands/index.ts'), 'the metafile lists the command index');
  const imports = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path));
  const forbidden = [
    /^src\/metadata\//,
    /^src\/daemon\//,
    /^src\/api\//,
    /^src\/content\/(?!digest\.ts$)/,
    /^src\/layers\//,
    /^src\/snapshots\//,
    /^src\/images\/(?!reference\.ts$)/,
    /^src\/events\//,
    /^src\/registry\/(?!names\.ts$)/,
    /better-sqlite3/,
    /zstd-napi/,
  ];
  const bad = [...inputs, ...imports].filter((p) => forbidden.some((f) => f.test(p)));
  assert.deepEqual([...new Set(bad)], []);
});
