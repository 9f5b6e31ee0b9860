#!/usr/bin/env node
// Bundles the CLI and the daemon with esbuild into dist/. Native addons stay external.
// The createRequire banner lets bundled CommonJS dependencies call require() from ESM.
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
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
const entries = [
  ['src/cli/main.ts', 'dist/brig.mjs'],
  ['src/daemon/main.ts', 'dist/brigd.mjs'],
];
await Promise.all(entries.map(([entry, outfile]) => build({ ...common, entryPoints: [entry], outfile })));
for (const [, out] of entries) chmodSync(out, 0o755);
