/**
 * A FreeBSD world for tests: a simulated FreeBSD host, the FreeBSD platform over it, and the zfs
 * snapshotter on `zroot/brig` (mounted for real below the test's temporary directory), plus
 * `startSequence`: the start of one container driven through the Platform and Snapshotter
 * interfaces in the order src/containers/service.ts runs them (snapshot, mount, bundle,
 * resources, conmon + create, afterCreate, start), each step with its undo.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { rulesetOf } from '../../src/devfs/compose.ts';
import { type DB, openDatabase } from '../../src/metadata/db.ts';
import { SimulatedFreeBSDHost } from '../../src/platform/fake/index.ts';
import type { FreeBSDPlatform } from '../../src/platform/freebsd/freebsd-platform.ts';
import { simulatedPlatform } from '../../src/platform/freebsd/simulated.ts';
import type { BundleInput, PrivilegeGrant, ResourceLimits } from '../../src/platform/platform.ts';
import { buildSpec, type OciSpec, writeSpec } from '../../src/runtime/bundle.ts';
import { conmonArgs } from '../../src/runtime/conmon.ts';
import { OciRuntime } from '../../src/runtime/oci-runtime.ts';
import { mountAll } from '../../src/snapshots/mount.ts';
import { ZfsSnapshotter } from '../../src/snapshots/zfs/zfs-snapshotter.ts';
import { tempDir } from './tmp.ts';

export const CTR_ID = 'c0ffee'.padEnd(64, '0');

export interface FreeBSDWorld {
  dir: string;
  host: SimulatedFreeBSDHost;
  platform: FreeBSDPlatform;
  snapshots: ZfsSnapshotter;
  db: DB;
}

/** A host with an unpacked image layer committed as `layer` (sh, passwd), log cleared. */
export async function freebsdWorld(
  t: TestContext,
  opts: { racct?: boolean; dir?: string } = {},
): Promise<FreeBSDWorld> {
  const dir = opts.dir ?? tempDir(t, 'brig-freebsd-');
  const host = new SimulatedFreeBSDHost({
    pools: ['zroot'],
    sysctl: { 'kern.racct.enable': opts.racct === false ? '0' : '1', 'hw.ncpu': '4' },
    writable: [dir],
    contentDir: join(dir, 'zfs-content'),
    clock: () => Date.UTC(2026, 10, 29, 12),
  });
  await host.run('zfs', ['create', '-o', `mountpoint=${join(dir, 'zfs')}`, 'zroot/brig']);
  const db = openDatabase(join(dir, 'brig.db'));
  t.after(() => db.close());
  const snapshots = new ZfsSnapshotter(db, { dataset: 'zroot/brig', runner: host });
  await snapshots.prepare('layer-a');
  const root = (await snapshots.directWrite('layer-a'))!.root;
  for (const d of ['bin', 'etc', 'tmp', 'dev']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'bin', 'sh'), '#!fake\n', { mode: 0o755 });
  writeFileSync(
    join(root, 'etc', 'passwd'),
    'root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n',
  );
  writeFileSync(join(root, 'etc', 'group'), 'wheel:*:0:root\nwww:*:80:\n');
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'data', 'seed'), 'from the image\n');
  await snapshots.commit('layer', 'layer-a');
  const platform = simulatedPlatform(host);
  host.log.length = 0;
  return { dir, host, platform, snapshots, db };
}

export const GRANT: PrivilegeGrant = {
  devfsRuleset: 1000,
  allow: ['mount.tmpfs', 'sysvipc'],
  sysvipc: { msg: 'new', shm: 'new', sem: 'disable' },
  childrenMax: 2,
  securelevel: 2,
};
export const LIMITS: ResourceLimits = { memory: 512 * 2 ** 20, cpus: 1.5, pids: 100 };
export const DEVFS_RULES = [
  'include $devfsrules_hide_all',
  'include $devfsrules_unhide_basic',
  "path 'fuse' unhide",
  "path 'mem' hide",
];

export interface Started {
  spec: OciSpec;
  bundle: string;
  jid: number | undefined;
  rt: OciRuntime;
  /** Undo steps still to run, in reverse order, to remove the container. */
  undo: Array<() => Promise<unknown>>;
}

/**
 * Starts CTR_ID from `layer`. On failure runs the undo list (like the containers service) and
 * rethrows; on success returns it for the caller's teardown.
 */
export async function startSequence(
  w: FreeBSDWorld,
  o: { grant?: PrivilegeGrant; limits?: ResourceLimits; args?: string[] } = {},
): Promise<Started> {
  const grant = o.grant ?? GRANT;
  const limits = o.limits ?? LIMITS;
  const undo: Array<() => Promise<unknown>> = [];
  const bundle = join(w.dir, 'containers', CTR_ID);
  const rootfs = join(bundle, 'rootfs');
  try {
    const info = await w.platform.runtime({ want: 'auto', workDir: join(w.dir, 'runtime') });
    const rt = new OciRuntime(info, w.platform.runner);
    // devfs ruleset: loaded when the allocator reports it new (here: always)
    if (grant.devfsRuleset !== undefined) {
      const n = grant.devfsRuleset;
      await w.platform.loadDevfsRuleset(n, rulesetOf(DEVFS_RULES));
      undo.push(() => w.platform.deleteDevfsRuleset(n));
    }
    const mounts = await w.snapshots.prepare(`ctr-${CTR_ID}`, 'layer');
    undo.push(() => w.snapshots.remove(`ctr-${CTR_ID}`));
    mkdirSync(rootfs, { recursive: true });
    undo.push(() => w.platform.unmountBelow(rootfs));
    await mountAll(mounts, rootfs, w.platform.runner);
    const input: BundleInput = {
      id: CTR_ID,
      daemonTag: 'test',
      name: 'web',
      limits,
      grant,
      readOnlyRoot: false,
      terminal: false,
    };
    const section = await w.platform.bundleSection(input);
    const spec = buildSpec({
      process: { args: o.args ?? ['/bin/sh', '-c', 'echo hello'], env: ['PATH=/bin'], cwd: '/', user: '0' },
      user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
      terminal: false,
      hostname: 'web',
      readOnlyRoot: false,
      mounts: [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['mode=1777', 'size=64m'] }],
      etcFiles: [],
      rlimits: await w.platform.clampRlimits([{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 }]),
      annotations: { 'org.brig.container.name': 'web' },
      section,
    });
    await writeSpec(bundle, spec);
    undo.push(() => w.platform.releaseResources(CTR_ID, section.scope));
    await w.platform.prepareResources(CTR_ID, section.scope, limits);
    const args = conmonArgs(info, {
      id: CTR_ID,
      cuuid: CTR_ID.slice(0, 12),
      name: 'web',
      bundle,
      logPath: join(bundle, 'ctr.log'),
      exitDir: join(w.dir, 'runtime', 'exits'),
      socketDir: join(w.dir, 'runtime', 's'),
      terminal: false,
      stdin: false,
    });
    mkdirSync(join(w.dir, 'runtime', 'exits'), { recursive: true });
    undo.push(() => rt.delete(CTR_ID, true));
    await w.platform.startConmon!(info.conmon.path, args, bundle);
    const { jid } = await w.platform.afterCreate(CTR_ID, section.scope);
    await rt.start(CTR_ID);
    return { spec, bundle, jid, rt, undo };
  } catch (e) {
    for (const u of undo.reverse()) await u().catch(() => {});
    throw e;
  }
}

export async function teardown(s: Started): Promise<void> {
  for (const u of [...s.undo].reverse()) await u();
}

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'freebsd');

/**
 * Compares with the golden file `test/fixtures/freebsd/NAME`, whose review notes (what was checked
 * against which manual page) come first and end with a line `# ---`; BRIG_UPDATE_GOLDEN=1
 * rewrites the content and keeps the notes.
 */
export function golden(name: string, actual: string): void {
  const file = join(FIXTURES, name);
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const cut = old.indexOf('\n# ---\n');
  const header = cut < 0 ? '' : old.slice(0, cut + 7);
  const body = cut < 0 ? old : old.slice(cut + 7);
  if (process.env.BRIG_UPDATE_GOLDEN === '1') {
    writeFileSync(file, header + actual);
    return;
  }
  assert.equal(actual, body, `${name} differs (BRIG_UPDATE_GOLDEN=1 rewrites it; review the diff)`);
}
