// What the benchmarks share: the root check and the NODE_EXTRA_CA_CERTS warning, the Debian
// fixture image (built once from ../shared/fixtures into a cache that survives runs), the
// tmpfs each benchmark mounts for itself (ext4 here has no journal: extracting right after an
// `rm -rf` of a similar tree is many times slower, so no benchmark writes to the disk), and a
// brigd from dist/ running on that tmpfs.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CACHE = '/var/tmp/brig-bench';
/** The built daemon and CLI (`npm run build`). */
export const BRIGD = join(here, '../dist/brigd.mjs');
export const BRIG = join(here, '../dist/brig.cjs');

/** Refuses to run as non-root (`why`: what needs root); warns when NODE_EXTRA_CA_CERTS is set. */
export function checkBenchEnv(why = 'tmpfs mount') {
  if (process.getuid?.() !== 0) throw new Error(`run as root (${why})`);
  if (process.env.NODE_EXTRA_CA_CERTS)
    console.warn('warning: NODE_EXTRA_CA_CERTS is set; unset it (adds ~60 ms per node start)');
}

/** The Debian fixture's OCI layout, built once into CACHE (its `.done` marks a complete build). */
export function debianLayout() {
  const layout = join(CACHE, 'debian');
  if (!existsSync(join(layout, '.done'))) {
    console.log(`building the Debian fixture into ${layout} (once) ...`);
    rmSync(layout, { recursive: true, force: true });
    mkdirSync(CACHE, { recursive: true });
    execFileSync('sh', [join(here, '../../shared/fixtures/make-debian-image.sh'), layout], {
      stdio: 'inherit',
    });
    writeFileSync(join(layout, '.done'), '');
  }
  return layout;
}

/** Mounts a tmpfs of `size` on the directory `dir` (made if absent); the caller unmounts it. */
export function mountTmpfsAt(dir, size) {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return dir;
}

/** A fresh directory named `prefix` + random characters, with a tmpfs mounted on it. */
export function mountTmpfs(prefix, size) {
  return mountTmpfsAt(mkdtempSync(prefix), size);
}

/** Unmounts (lazily) the tmpfs on `dir` and removes the directory. */
export function unmountTmpfs(dir) {
  spawnSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Starts BRIGD on `dir` (root `dir/daemon-root`, socket `dir/brig.sock`, an empty config) with
 * `env`, and waits (up to 10 s) until `brig system info` answers. Returns the daemon process and
 * `brig(args)`: BRIG against it, its stdout, or a throw with its stderr.
 */
export async function startBrigd(dir, env) {
  const sock = join(dir, 'brig.sock');
  writeFileSync(join(dir, 'brig.yaml'), '');
  const daemon = spawn(
    process.execPath,
    [BRIGD, '--root', join(dir, 'daemon-root'), '--socket', sock, '--config', join(dir, 'brig.yaml')],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const run = (args) =>
    spawnSync(process.execPath, [BRIG, '--host', `unix://${sock}`, ...args], { env, encoding: 'utf8' });
  for (let i = 0; i < 200 && run(['system', 'info']).status !== 0; i++)
    await new Promise((r) => setTimeout(r, 50));
  const brig = (args) => {
    const r = run(args);
    if (r.status !== 0) throw new Error(`brig ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { daemon, brig };
}
