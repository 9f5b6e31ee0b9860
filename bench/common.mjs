// What the benchmarks share: the root check and the NODE_EXTRA_CA_CERTS warning, the Debian
// fixture image (built once from ../shared/fixtures into a cache that survives runs), and the
// tmpfs each benchmark mounts for itself (ext4 here has no journal: extracting right after an
// `rm -rf` of a similar tree is many times slower, so no benchmark writes to the disk).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const CACHE = '/var/tmp/brig-bench';

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
