/**
 * Plans: `brig run --dry-run IMAGE ...` — every host command brig would run to start the
 * container, in order, and the config.json it would write, without running anything or changing
 * any state.
 *
 * How: the start sequence of src/containers/service.ts (devfs ruleset, rootfs snapshot, mounts,
 * bundle, resources, conmon + runtime create, afterCreate, runtime start) is driven through the
 * same code (snapshotter, mountAll, Platform, conmonArgs) with a RecordingRunner instead of the
 * host's runner:
 *   - the snapshotter is a scratch instance of the configured driver over a copy of brig.db's
 *     snapshot rows (in a temporary directory removed afterwards), so layers already unpacked
 *     are reused and the others appear as the commands that would unpack them; paths of the
 *     scratch directory are rewritten to the real ones in the output;
 *   - the Platform is a fresh one of the daemon's kind bound to the recorder (its runtime is the
 *     daemon's: the probe is not part of a plan);
 *   - the grant is the privilege service's decision for this image and request (refusals fail
 *     the plan exactly as they would fail `run`); a devfs ruleset already in use for the same
 *     rules is reused, otherwise the plan loads the lowest free number of the range.
 * Layer contents, /etc files and volume directories are files brig writes itself (no host
 * command); they appear in `files`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageService } from '../images/image-service.ts';
import type { ContainerConfig } from '../images/oci.ts';
import { type DB, openDatabase } from '../metadata/db.ts';
import type { CommandRunner } from '../platform/exec.ts';
import type { Platform, PrivilegeGrant, ResourceLimits } from '../platform/platform.ts';
import { type PlannedCommand, RecordingRunner } from '../platform/recording-runner.ts';
import type { PrivilegeService } from '../privileges/service.ts';
import {
  type BrigRunSection,
  buildSpec,
  DEFAULT_RLIMITS,
  type OciSpec,
  resolveProcess,
} from '../runtime/bundle.ts';
import { conmonArgs } from '../runtime/conmon.ts';
import { mountAll } from '../snapshots/mount.ts';
import type { Snapshotter } from '../snapshots/snapshotter.ts';
import { chainIds } from '../snapshots/unpack.ts';

export interface PlanRequest {
  image: string;
  command?: string[];
  entrypoint?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  name?: string;
  tty?: boolean;
  readOnly?: boolean;
  memory?: number;
  cpus?: number;
  pidsLimit?: number;
  grants?: string[];
}

export interface Plan {
  platform: string;
  /** The container id the plan uses (a real run draws a fresh one). */
  id: string;
  commands: PlannedCommand[];
  /** config.json as it would be written. */
  bundle: OciSpec;
  /** Files brig writes itself, with what goes in them. */
  files: Array<{ path: string; what: string }>;
}

export interface PlanDeps {
  root: string;
  db: DB;
  platform: Platform;
  images: ImageService;
  snapshots: Snapshotter;
  privileges?: PrivilegeService;
  runtime: { name: string; path?: string; conmon?: string };
  /** `policy.devfs.rulesets` */
  rulesets?: { first: number; max: number };
  /** Answers read-only queries while planning (the host's runner; a fork of a simulated host). */
  ask?: CommandRunner;
  /** Makes the Platform of the daemon's kind over another runner. */
  platformFor(runner: CommandRunner): Platform | Promise<Platform>;
}

export const PLAN_ID = '0'.repeat(64);

export async function planRun(deps: PlanDeps, req: PlanRequest): Promise<Plan> {
  const id = PLAN_ID;
  const name = req.name ?? 'planned';
  const image = await deps.images.inspect(req.image);
  const info = await deps.platform.runtime({
    want: deps.runtime.name,
    ...(deps.runtime.path ? { path: deps.runtime.path } : {}),
    ...(deps.runtime.conmon ? { conmon: deps.runtime.conmon } : {}),
    workDir: join(deps.root, 'runtime'),
  });
  const scratch = await mkdtemp(join(tmpdir(), 'brig-plan-'));
  const files: Plan['files'] = [];
  const db = openDatabase(join(scratch, 'plan.db'));
  try {
    const realSnapRoot = join(deps.root, 'snapshots', deps.snapshots.driver);
    const scratchSnapRoot = join(scratch, 'snapshots', deps.snapshots.driver);
    const rows = deps.db
      .prepare('SELECT * FROM snapshots WHERE driver = ?')
      .all(deps.snapshots.driver) as Array<Record<string, unknown>>;
    const insert = db.prepare(
      'INSERT INTO snapshots (driver, key, kind, parent, created_at, labels, info) VALUES (@driver, @key, @kind, @parent, @created_at, @labels, @info)',
    );
    for (const r of rows)
      insert.run({
        driver: r.driver,
        key: r.key,
        kind: r.kind,
        parent: r.parent,
        created_at: r.created_at,
        labels: r.labels,
        info: r.info,
      });
    let zfsBase = zfsMountBase(rows);
    const dataset = (deps.snapshots as { dataset?: string }).dataset;
    if (!zfsBase && dataset && deps.ask) {
      // the parent dataset's mountpoint, inherited by the numbered datasets
      const r = await deps.ask.run('zfs', ['get', '-H', '-o', 'value', 'mountpoint', dataset], {
        check: false,
      });
      const mp = r.stdout.toString().trim();
      if (r.code === 0 && mp.startsWith('/')) zfsBase = mp;
    }
    const rec = new RecordingRunner((cmd, args) => {
      const base = cmd.slice(cmd.lastIndexOf('/') + 1);
      if (base === 'zfs' && args[0] === 'get' && args.includes('mountpoint') && zfsBase) {
        const ds = args.at(-1)!;
        return { stdout: `${zfsBase}/${ds.slice(ds.lastIndexOf('/') + 1)}\n` };
      }
      if (args.includes('state') && args.at(-1) === id) return { stdout: stateAnswer };
      return undefined;
    }, deps.ask);
    let stateAnswer = '{}';
    rec.stop();
    const platform = await deps.platformFor(rec);
    // FreeBSD: the same state root as the daemon's (afterCreate names it); Linux: the probe's
    // cache stays in the scratch directory
    await platform.runtime({
      want: deps.runtime.name,
      ...(deps.runtime.path ? { path: deps.runtime.path } : {}),
      ...(deps.runtime.conmon ? { conmon: deps.runtime.conmon } : {}),
      workDir: deps.platform.os === 'freebsd' ? join(deps.root, 'runtime') : join(scratch, 'runtime'),
    });
    const snap = await scratchSnapshotter(deps.snapshots, db, scratchSnapRoot, rec, deps.platform.os);
    // checked once when the daemon started: not part of a container's start
    await (snap as { ensureDataset?: () => Promise<void> }).ensureDataset?.();
    rec.start();

    // privileges: the decision, and the devfs ruleset (reused when the same rules are loaded)
    let grant: PrivilegeGrant = {};
    if (deps.privileges) {
      const decision = await deps.privileges.check(
        { ref: req.image, digest: image.id, brig: image.brig },
        { grants: req.grants ?? [] },
        undefined,
        { trusted: true },
      );
      grant = deps.privileges.grantFor(id, decision);
      if (deps.platform.os === 'freebsd') {
        const sets = deps.privileges.list();
        const same = sets.find((s) => s.hash === decision.composed.hash);
        let number = same?.number;
        if (number === undefined) {
          const used = new Set(sets.map((s) => s.number));
          const first = deps.rulesets?.first ?? 1000;
          number = first;
          while (used.has(number)) number++;
          await platform.loadDevfsRuleset?.(number, decision.composed);
        }
        grant = { ...grant, devfsRuleset: number };
      }
    }

    // the rootfs: unpack what is missing, then the container's own snapshot
    const chain = chainIds(image.layers.map((l) => l.diffId));
    let parent: string | undefined;
    for (const [i, cid] of chain.entries()) {
      const exists = await snap.stat(cid).then(
        () => true,
        () => false,
      );
      if (!exists) {
        const key = `plan-unpack-${i}`;
        await snap.prepare(key, parent);
        const dw = await snap.directWrite(key);
        files.push({ path: dw?.root ?? '(mounted)', what: `layer ${image.layers[i]!.digest} unpacked` });
        await snap.commit(cid, key);
      }
      parent = cid;
    }
    const mounts = await snap.prepare(`ctr-${id}`, parent);
    const bundleDir = join(deps.root, 'containers', id);
    const rootfs = join(bundleDir, 'rootfs');
    await mountAll(mounts, rootfs, rec);

    const hostname = req.hostname ?? id.slice(0, 12);
    const brig = image.brig as BrigRunSection | undefined;
    const proc = resolveProcess(image.config.config ?? ({} as ContainerConfig), brig, {
      command: req.command ?? [],
      ...(req.entrypoint !== undefined ? { entrypoint: req.entrypoint } : {}),
      env: req.env ?? [],
      ...(req.workdir ? { workdir: req.workdir } : {}),
      ...(req.user ? { user: req.user } : {}),
      terminal: req.tty ?? false,
      hostname,
    });
    const limits: ResourceLimits = {
      ...(req.memory !== undefined ? { memory: req.memory } : {}),
      ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
      ...(req.pidsLimit !== undefined ? { pids: req.pidsLimit } : {}),
    };
    const section = await platform.bundleSection({
      id,
      daemonTag: 'plan',
      name,
      limits,
      grant,
      readOnlyRoot: req.readOnly ?? false,
      terminal: req.tty ?? false,
    });
    const etcFiles = ['hostname', 'hosts', 'resolv.conf'].map((f) => ({
      source: join(bundleDir, f),
      destination: `/etc/${f}`,
    }));
    for (const f of etcFiles) files.push({ path: f.source, what: `the container's ${f.destination}` });
    const root = /^\d+$/.test(proc.user.split(':')[0] ?? '') || proc.user === '' || proc.user === 'root';
    const spec = buildSpec({
      process: proc,
      user: root
        ? { uid: Number(proc.user.split(':')[0]) || 0, gid: 0, additionalGids: [], home: '/root' }
        : { uid: -1, gid: -1, additionalGids: [], home: '/' },
      terminal: req.tty ?? false,
      hostname,
      readOnlyRoot: req.readOnly ?? false,
      mounts: [],
      etcFiles,
      rlimits: await platform.clampRlimits(DEFAULT_RLIMITS),
      annotations: { 'org.brig.container.name': name, 'org.brig.container.id': id },
      section,
    });
    files.push({ path: join(bundleDir, 'config.json'), what: 'the bundle (below)' });
    stateAnswer = JSON.stringify({ annotations: { ...spec.annotations, 'org.freebsd.jail.jid': '1' } });

    await platform.prepareResources(id, section.scope, limits);
    const args = conmonArgs(info, {
      id,
      cuuid: id.slice(0, 12),
      name,
      bundle: bundleDir,
      logPath: join(bundleDir, 'ctr.log'),
      exitDir: join(deps.root, 'runtime', 'exits'),
      socketDir: join(deps.root, 'runtime', 's'),
      terminal: req.tty ?? false,
      stdin: false,
    });
    rec.note(info.conmon.path, args);
    rec.note(
      info.path,
      [
        '--root',
        info.stateRoot,
        'create',
        '--bundle',
        bundleDir,
        '--pid-file',
        join(bundleDir, 'pidfile'),
        id,
      ],
      'conmon',
    );
    await platform.afterCreate?.(id, section.scope);
    await rec.run(info.path, ['--root', info.stateRoot, 'start', id]);
    rec.stop();
    const fix = (s: string) => s.replaceAll(scratchSnapRoot, realSnapRoot);
    return {
      platform: deps.platform.name,
      id,
      commands: rec.commands.map((c) => ({
        ...c,
        args: c.args.map(fix),
        ...(c.cwd ? { cwd: fix(c.cwd) } : {}),
      })),
      bundle: JSON.parse(fix(JSON.stringify(spec))) as OciSpec,
      files: files.map((f) => ({ ...f, path: fix(f.path) })),
    };
  } finally {
    db.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The zfs snapshotter's dataset and the parent mountpoint of its numbered datasets. */
function zfsMountBase(rows: Array<Record<string, unknown>>): string | undefined {
  for (const r of rows) {
    try {
      const info = JSON.parse(String(r.info)) as { mountpoint?: string; id?: number };
      if (info.mountpoint && info.id !== undefined && info.mountpoint.endsWith(`/${info.id}`))
        return info.mountpoint.slice(0, -`/${info.id}`.length);
    } catch {}
  }
  return undefined;
}

async function scratchSnapshotter(
  real: Snapshotter,
  db: DB,
  root: string,
  runner: RecordingRunner,
  os: 'linux' | 'freebsd',
): Promise<Snapshotter> {
  if (real.driver === 'zfs') {
    const { ZfsSnapshotter } = await import('../snapshots/zfs/zfs-snapshotter.ts');
    const dataset = (real as InstanceType<typeof ZfsSnapshotter>).dataset;
    const z = new ZfsSnapshotter(db, { dataset, runner });
    return z;
  }
  if (real.driver === 'overlay') {
    const { OverlaySnapshotter } = await import('../snapshots/overlay/overlay-snapshotter.ts');
    return new OverlaySnapshotter(db, root);
  }
  const { NativeSnapshotter, bsdCopyTree, gnuCopyTree } = await import(
    '../snapshots/native/native-snapshotter.ts'
  );
  return new NativeSnapshotter(db, root, {
    copyTree: os === 'freebsd' ? bsdCopyTree(runner) : gnuCopyTree(runner),
    mountType: os === 'freebsd' ? 'nullfs' : 'bind',
  });
}
