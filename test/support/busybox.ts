/**
 * The busybox test image, built offline from the host's busybox-static by the shared fixture
 * script (../shared/fixtures/make-busybox-image.sh beside the checkout), once per test process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const PROJECT = resolve(import.meta.dirname, '../..');

export function fixtureScript(name: string): string {
  for (const p of [resolve(PROJECT, '../shared/fixtures', name), join('/work/shared/fixtures', name)]) {
    if (existsSync(p)) return p;
  }
  throw new Error(`fixture script ${name} not found beside the checkout (../shared/fixtures)`);
}

let cached: { layout: string; rootfs: string } | undefined;

/** An OCI layout (tag `latest`) and its unpacked rootfs; removed when the process exits. */
export function busyboxImage(): { layout: string; rootfs: string } {
  if (cached) return cached;
  const dir = mkdtempSync(join(process.env.BRIG_TEST_TMP ?? tmpdir(), 'brig-busybox-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const layout = join(dir, 'img');
  execFileSync('sh', [fixtureScript('make-busybox-image.sh'), layout], { stdio: 'ignore' });
  execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, join(dir, 'unpacked')], {
    stdio: 'ignore',
  });
  cached = { layout, rootfs: join(dir, 'unpacked', 'rootfs') };
  return cached;
}
