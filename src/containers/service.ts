/**
 * ContainerService: the lifecycle of containers (see ./container.ts for states and reasons).
 *
 * Start, step by step, each with its undo (run in reverse when a later step fails, so a failed
 * start leaves no snapshot, mount, volume use, cgroup, runtime state or conmon behind):
 *   snapshot  rootfs.prepare: the container's writable root snapshot   undo: rootfs.remove
 *   mount     mountAll(snapshot mounts, <dir>/rootfs)                  undo: unmount below it
 *   volumes   mounts.resolve: volumes acquired, binds, tmpfs           undo: release
 *   bundle    /etc files, user from the rootfs, config.json           (files only)
 *   resources platform.prepareResources (rctl; nothing on Linux)       undo: releaseResources
 *   create    conmon + `runtime create`                                undo: runtime delete -f,
 *   start     `runtime start`                                            wait for conmon, scope
 * `StartHooks.beforeStep` runs before each step (tests inject failures there).
 *
 * Exit: conmon's exit file wakes the ExitWatcher; `handleExit` reads the OOM verdict, releases
 * everything the run held (the same undo, in the same order), records exit code, reason and time
 * (the exit file's mtime), emits `die`, wakes `wait`ers, then removes (--rm) or schedules a
 * restart (policy, back-off). A failed release never hides the exit: the record becomes 'dead'
 * (error = the cause), with no --rm and no restart; `rm` and each daemon start retry it.
 *
 * Daemon start (`init`): the watcher starts first, then `reconcile` compares each record with
 * the runtime: running ones whose process lives stay watched; those that died meanwhile get
 * their real exit code from the exit file (or 'dead' reason failed when none was written), and
 * their policy; runtime states, cgroups, mounts and snapshots that no record owns are removed.
 *
 * Operations on one container are serialised (a per-id promise chain).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BrigError, isBrigError } from '../errors/errors.ts';
import type { EventLog } from '../events/events.ts';
import type { ContainerConfig, ImageConfig } from '../images/oci.ts';
import type { DB } from '../metadata/db.ts';
import type { OciMount, Platform, PrivilegeGrant, RuntimeInfo } from '../platform/platform.ts';
import {
  type BrigRunSection,
  buildSpec,
  DEFAULT_RLIMITS,
  readUserDb,
  resolveProcess,
  resolveUser,
  writeEtcFiles,
  writeSpec,
} from '../runtime/bundle.ts';
import { conmonArgs, conmonCreate, resizeTerminal } from '../runtime/conmon.ts';
import { ExitWatcher } from '../runtime/exit-watcher.ts';
import { commandFailure, OciRuntime } from '../runtime/oci-runtime.ts';
import type { Mount } from '../snapshots/snapshotter.ts';
import {
  type Container,
  type ContainerSpec,
  type ContainerState,
  canExec,
  canKill,
  canRemove,
  canStart,
  canStop,
  exitReason,
  type MountRequest,
  restartDelay,
  type StoredMount,
  shouldRestart,
  shownState,
} from './container.ts';
import { newContainerId, randomName, shortId, VALID_NAME } from './names.ts';
import { ContainerStore } from './store.ts';

export interface ResolvedImage {
  /** The config digest. */
  id: string;
  /** The normalised reference. */
  name: string;
  config: ImageConfig;
  layers: { layers: Array<{ mediaType: string; digest: string; size: number }>; diffIds: string[] };
  brig?: BrigRunSection;
}

export interface ImageSource {
  resolve(ref: string): Promise<ResolvedImage>;
}

/** The container's writable root: a snapshot keyed by the container id. */
export interface RootfsStore {
  prepare(id: string, image: ResolvedImage): Promise<Mount[]>;
  /** Missing is fine. */
  remove(id: string): Promise<void>;
  /** Container ids that have a root snapshot (reconciliation). */
  list(): Promise<string[]>;
}

/**
 * Volumes, binds and tmpfs (the adapter over src/volumes). Resolved once, at create: volumes are
 * created and acquired then and stay the container's until it is removed; a failed create undoes.
 */
export interface MountResolver {
  resolve(
    containerId: string,
    requests: readonly MountRequest[],
    image: ResolvedImage,
  ): Promise<{ mounts: StoredMount[]; undo(): Promise<void> }>;
  /** At removal. Idempotent. */
  releaseAll(containerId: string, opts: { removeAnonymous: boolean }): Promise<void>;
}

/** The policy/devfs seam: the grant for this container (capabilities, devices, IPC...). */
export type GrantResolver = (
  image: ResolvedImage,
  spec: ContainerSpec,
  containerId: string,
) => Promise<PrivilegeGrant>;

export type StartStep = 'snapshot' | 'mount' | 'volumes' | 'bundle' | 'resources' | 'create' | 'start';
export const START_STEPS: readonly StartStep[] = [
  'snapshot',
  'mount',
  'volumes',
  'bundle',
  'resources',
  'create',
  'start',
];

export interface StartHooks {
  beforeStep?(step: StartStep, id: string): void | Promise<void>;
}

/** The privileges seam at create and remove (src/privileges/containers.ts). */
export interface CreatePrivileges {
  /** Policy check and the image's required parameters/volumes: throws before anything exists. */
  beforeCreate(image: ResolvedImage, spec: ContainerSpec, caller: unknown): Promise<unknown>;
  /** Takes what the decision grants for the new id; returns its undo. */
  admit(id: string, decision: unknown, image: ResolvedImage, caller: unknown): Promise<() => Promise<void>>;
  release(id: string): Promise<void>;
}

export interface ContainerServiceOptions {
  root: string;
  db: DB;
  events: EventLog;
  platform: Platform;
  images: ImageSource;
  rootfs: RootfsStore;
  mounts: MountResolver;
  grant?: GrantResolver;
  privileges?: CreatePrivileges;
  runtime: { name: string; path?: string; conmon?: string };
  hooks?: StartHooks;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface CreateRequest extends Partial<ContainerSpec> {
  image: string;
  name?: string;
}

const STOP_TIMEOUT_DEFAULT = 10;

/** A process-wide unique, short tag for this daemon's scopes (cgroups): from the root path. */
export function daemonTagOf(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 10);
}

export class ContainerService {
  readonly store: ContainerStore;
  private readonly o: ContainerServiceOptions;
  private rt: OciRuntime | undefined;
  private info: RuntimeInfo | undefined;
  private watcher: ExitWatcher | undefined;
  private locks = new Map<string, Promise<unknown>>();
  private waiters = new Map<string, Array<(c: Container) => void>>();
  private timers = new Map<string, NodeJS.Timeout>();
  /** Containers paused by whileFrozen: how many calls hold the pause. */
  private frozen = new Map<string, { count: number; paused: Promise<void> }>();
  private closed = false;
  /** Exits of removed containers (by id and name), so `wait` after `--rm` still answers. */
  private removedExits = new Map<string, { exitCode: number; reason?: string; error?: string }>();
  readonly daemonTag: string;
  readonly dirs: { containers: string; runtime: string; exits: string; sockets: string };

  constructor(o: ContainerServiceOptions) {
    this.o = o;
    this.store = new ContainerStore(o.db);
    this.daemonTag = daemonTagOf(o.root);
    const runtime = join(o.root, 'runtime');
    this.dirs = {
      containers: join(o.root, 'containers'),
      runtime,
      exits: join(runtime, 'exits'),
      sockets: join(runtime, 's'),
    };
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) {
    this.o.log?.(level, msg, fields);
  }

  /** Probes the runtime (cached), starts the exit watcher, reconciles. */
  async init(): Promise<void> {
    await mkdir(this.dirs.containers, { recursive: true });
    await mkdir(this.dirs.sockets, { recursive: true });
    await this.runtime();
    this.watcher = new ExitWatcher(
      this.dirs.exits,
      (id, status) => this.handleExit(id, status),
      (e) => this.log('error', 'exit handling failed', { error: String(e) }),
    );
    await this.watcher.start();
    await this.reconcile();
  }

  async runtime(): Promise<{ rt: OciRuntime; info: RuntimeInfo }> {
    if (!this.rt || !this.info) {
      const r = this.o.runtime;
      this.info = await this.o.platform.runtime({
        want: r.name,
        ...(r.path ? { path: r.path } : {}),
        ...(r.conmon ? { conmon: r.conmon } : {}),
        workDir: this.dirs.runtime,
      });
      this.rt = new OciRuntime(this.info, this.o.platform.runner);
    }
    return { rt: this.rt, info: this.info };
  }

  /** Stops watching; containers keep running (they are conmon's, not brigd's). */
  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.locks.values()]);
  }

  private withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  dir(id: string): string {
    return join(this.dirs.containers, id);
  }

  // ---------------------------------------------------------------- create

  async create(req: CreateRequest, caller?: unknown): Promise<Container> {
    return (await this.createResolved(req, caller)).container;
  }

  /**
   * `create`, also giving the image it resolved, for a start that follows at once (`run`:
   * `start(id, { image })` then skips resolving the same reference again).
   */
  async createResolved(
    req: CreateRequest,
    caller?: unknown,
  ): Promise<{ container: Container; image: ResolvedImage }> {
    const image = await this.o.images.resolve(req.image);
    if (req.name !== undefined && !VALID_NAME.test(req.name)) {
      throw new BrigError('ERR_INVALID_ARGUMENT', `invalid container name ${JSON.stringify(req.name)}`, {
        hint: 'Use letters, digits, _ . - (starting with a letter or digit).',
      });
    }
    const spec: ContainerSpec = {
      image: req.image,
      command: req.command ?? [],
      env: req.env ?? [],
      tty: req.tty ?? false,
      stdin: req.stdin ?? false,
      readOnly: req.readOnly ?? false,
      mounts: req.mounts ?? [],
      restart: req.restart ?? { name: 'no', maxRetries: 0 },
      autoRemove: req.autoRemove ?? false,
      labels: req.labels ?? {},
      ...(req.entrypoint !== undefined ? { entrypoint: req.entrypoint } : {}),
      ...(req.workdir ? { workdir: req.workdir } : {}),
      ...(req.user ? { user: req.user } : {}),
      ...(req.hostname ? { hostname: req.hostname } : {}),
      ...(req.memory !== undefined ? { memory: req.memory } : {}),
      ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
      ...(req.pidsLimit !== undefined ? { pidsLimit: req.pidsLimit } : {}),
      ...(req.stopSignal ? { stopSignal: req.stopSignal } : {}),
      ...(req.stopTimeout !== undefined ? { stopTimeout: req.stopTimeout } : {}),
      ...(req.grants ? { grants: req.grants } : {}),
    };
    if (spec.restart.name !== 'no' && spec.autoRemove) {
      throw new BrigError('ERR_INVALID_ARGUMENT', '--rm and --restart cannot be combined');
    }
    // privileges first (src/privileges/containers.ts): required parameters and volumes named
    // with their descriptions, then the policy; both before anything exists
    const decision = await this.o.privileges?.beforeCreate(image, spec, caller);
    const id = newContainerId();
    // resolve the process now: a missing command or parameter fails before anything exists
    const proc = resolveProcess(image.config.config ?? {}, image.brig, {
      command: spec.command,
      ...(spec.entrypoint !== undefined ? { entrypoint: spec.entrypoint } : {}),
      env: spec.env,
      ...(spec.workdir ? { workdir: spec.workdir } : {}),
      ...(spec.user ? { user: spec.user } : {}),
      terminal: spec.tty,
      hostname: spec.hostname ?? shortId(id),
    });
    const c: Container = {
      id,
      name: req.name ?? randomName((n) => this.store.nameTaken(n)),
      image: req.image,
      imageId: image.id,
      state: 'created',
      createdAt: Date.now(),
      spec,
      status: {
        restartCount: 0,
        process: { args: proc.args, env: proc.env, cwd: proc.cwd, user: proc.user },
      },
      labels: { ...(image.config.config?.Labels ?? {}), ...spec.labels },
    };
    const undo: Array<() => Promise<void>> = [];
    try {
      if (this.o.privileges) undo.push(await this.o.privileges.admit(id, decision, image, caller));
      const vol = await this.o.mounts.resolve(id, spec.mounts, image);
      undo.push(() => vol.undo());
      c.spec.resolvedMounts = vol.mounts;
      await mkdir(this.dir(id), { recursive: true });
      undo.push(() => rm(this.dir(id), { recursive: true, force: true }));
      // a generated name can be taken meanwhile by a concurrent create: draw another
      for (let i = 0; ; i++) {
        try {
          this.store.insert(c);
          break;
        } catch (e) {
          if (req.name !== undefined || i > 20 || !isBrigError(e, 'ERR_CONTAINER_NAME_IN_USE')) throw e;
          c.name = randomName((n) => this.store.nameTaken(n));
        }
      }
    } catch (e) {
      for (const u of undo.reverse()) await u().catch(() => {});
      throw e;
    }
    this.o.events.emit('container', 'create', id, { name: c.name, image: c.image });
    return { container: c, image };
  }

  // ---------------------------------------------------------------- start

  /**
   * `beforeStart` runs once the runtime created the container, before its process starts
   * (attach). `image`: what createResolved gave for this container (used when it is still the
   * container's image; else the reference is resolved again). `whileCreating` is called once
   * the runtime's create is under way (conmon started), so that what the caller prepares for
   * `beforeStart` (the attach bridge) overlaps it instead of delaying the start.
   */
  start(
    ref: string,
    opts: {
      beforeStart?: (c: Container) => Promise<void>;
      whileCreating?: () => void;
      image?: ResolvedImage;
    } = {},
  ): Promise<Container> {
    const c0 = this.store.find(ref);
    return this.withLock(c0.id, async () => {
      const c = this.store.get(c0.id)!;
      if (c.state === 'running') return c;
      if (!canStart(c.state)) {
        throw new BrigError('ERR_CONTAINER_STATE', `container ${c.name} is ${c.state} and cannot be started`);
      }
      this.cancelRestart(c.id);
      c.status.stoppedByUser = false;
      return this.startLocked(c, false, opts.beforeStart, opts.image, opts.whileCreating);
    });
  }

  private async startLocked(
    c: Container,
    isRestart: boolean,
    beforeStart?: (c: Container) => Promise<void>,
    resolved?: ResolvedImage,
    whileCreating?: () => void,
  ): Promise<Container> {
    const { rt, info } = await this.runtime();
    const dir = this.dir(c.id);
    const rootfs = join(dir, 'rootfs');
    const undo: Array<() => Promise<void>> = [];
    const timings: Record<string, number> = {};
    let last = performance.now();
    let lastName = 'prepare';
    const step = async (s: StartStep) => {
      const t = performance.now();
      timings[lastName] = Math.round((t - last) * 10) / 10;
      last = t;
      lastName = s;
      await this.o.hooks?.beforeStep?.(s, c.id);
    };
    let scope: string | undefined;
    // (synchronous, as the other small files of brigd's own directories on the way from the
    // request to the running process: each asynchronous call is a thread-pool round trip)
    await this.watcher?.discard(c.id);
    rmSync(join(dir, 'exit'), { force: true });
    rmSync(join(dir, 'oom'), { force: true });
    try {
      const image = resolved?.id === c.imageId ? resolved : await this.o.images.resolve(c.spec.image);
      await step('snapshot');
      const rootMounts = await this.o.rootfs.prepare(c.id, image);
      undo.push(() => this.o.rootfs.remove(c.id));

      await step('mount');
      mkdirSync(rootfs, { recursive: true });
      undo.push(() => this.o.platform.unmountBelow(rootfs));
      const { mountAll } = await import('../snapshots/mount.ts');
      const mounted = mountAll(rootMounts, rootfs, this.o.platform.runner);
      // While mount(8) runs, the parts of the bundle that do not read the root filesystem: the
      // grant (the policy checked again), the platform's section (its seccomp filter), the /etc
      // files and the rlimits. The bundle step takes them; a failure before it discards them
      // (they hold nothing: the files are in the container's directory, the ruleset is the
      // container's since its create).
      const hostname = c.spec.hostname ?? shortId(c.id);
      const limits = {
        ...(c.spec.memory !== undefined ? { memory: c.spec.memory } : {}),
        ...(c.spec.cpus !== undefined ? { cpus: c.spec.cpus } : {}),
        ...(c.spec.pidsLimit !== undefined ? { pids: c.spec.pidsLimit } : {}),
      };
      const prepared = (async () => {
        const grant = (await this.o.grant?.(image, c.spec, c.id)) ?? {};
        const section = await this.o.platform.bundleSection({
          id: c.id,
          daemonTag: this.daemonTag,
          name: c.name,
          limits,
          grant,
          readOnlyRoot: c.spec.readOnly,
          terminal: c.spec.tty,
        });
        const etcFiles = await writeEtcFiles(dir, hostname);
        const rlimits = await this.o.platform.clampRlimits(DEFAULT_RLIMITS);
        return { section, etcFiles, rlimits };
      })();
      prepared.catch(() => {}); // awaited at the bundle step, unless an earlier step failed
      await mounted;

      await step('volumes');
      const volMounts = await this.volumeMounts(c, rootfs);

      await step('bundle');
      const proc = resolveProcess(image.config.config ?? ({} as ContainerConfig), image.brig, {
        command: c.spec.command,
        ...(c.spec.entrypoint !== undefined ? { entrypoint: c.spec.entrypoint } : {}),
        env: c.spec.env,
        ...(c.spec.workdir ? { workdir: c.spec.workdir } : {}),
        ...(c.spec.user ? { user: c.spec.user } : {}),
        terminal: c.spec.tty,
        hostname,
      });
      const { passwd, group } = await readUserDb(this.o.platform.hostView?.(rootfs) ?? rootfs);
      const user = resolveUser(proc.user, passwd, group);
      const { section, etcFiles, rlimits } = await prepared;
      scope = section.scope;
      const spec = buildSpec({
        process: proc,
        user,
        terminal: c.spec.tty,
        hostname,
        readOnlyRoot: c.spec.readOnly,
        mounts: volMounts,
        etcFiles,
        rlimits,
        annotations: { 'org.brig.container.name': c.name, 'org.brig.container.id': c.id },
        section,
      });
      await writeSpec(dir, spec);

      await step('resources');
      undo.push(() => this.o.platform.releaseResources(c.id, scope!));
      await this.o.platform.prepareResources(c.id, scope, limits);

      await step('create');
      undo.push(() => this.deleteRuntimeState(c.id, rt));
      const conmonOpts = {
        id: c.id,
        cuuid: shortId(c.id),
        name: c.name,
        bundle: dir,
        logPath: join(dir, 'ctr.log'),
        exitDir: this.dirs.exits,
        socketDir: this.dirs.sockets,
        terminal: c.spec.tty,
        stdin: c.spec.stdin,
      };
      // a simulated (freebsd-simulated) host runs conmon through its runner
      const creating = this.o.platform.startConmon
        ? this.o.platform.startConmon(info.conmon.path, conmonArgs(info, conmonOpts), dir)
        : conmonCreate(info.conmon.path, info, conmonOpts);
      whileCreating?.();
      const started = await creating;
      // FreeBSD: jail parameters ocijail cannot set (jail -m), and the jail id
      const host = (await this.o.platform.afterCreate?.(c.id, scope)) ?? {};

      await beforeStart?.(c);
      await step('start');
      await rt.start(c.id);

      c.state = 'running';
      c.status = {
        ...c.status,
        pid: started.pid,
        conmonPid: started.conmonPid,
        ...(host.jid !== undefined ? { jid: host.jid } : {}),
        startedAt: Date.now(),
        scope,
        process: { args: proc.args, env: proc.env, cwd: proc.cwd, user: proc.user },
      };
      delete c.status.exitCode;
      delete c.status.reason;
      delete c.status.error;
      delete c.status.finishedAt;
      delete c.status.restartAt;
      if (isRestart) c.status.restartCount += 1;
      this.store.update(c.id, c.state, c.status);
      timings[lastName] = Math.round((performance.now() - last) * 10) / 10;
      this.log('debug', 'container started', { id: c.id, ms: timings });
      this.o.events.emit('container', isRestart ? 'restart' : 'start', c.id, {
        name: c.name,
        pid: String(started.pid),
      });
      return c;
    } catch (e) {
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (ue) {
          this.log('warn', 'undo of a failed start failed', { id: c.id, error: String(ue) });
        }
      }
      await this.watcher?.discard(c.id);
      const { err, exitCode } = startError(e, c.id);
      // A start that fails is an exit with reason failed-to-start (the record stays, but for
      // --rm); the exit code is docker's: 127/126 when the command cannot be found/run, else 125.
      c.state = 'exited';
      c.status = {
        ...c.status,
        reason: 'failed-to-start',
        error: err.message,
        exitCode,
        finishedAt: Date.now(),
      };
      delete c.status.pid;
      delete c.status.conmonPid;
      delete c.status.scope;
      // a restart that failed is not pending any more (the caller may schedule another)
      delete c.status.restartAt;
      this.store.update(c.id, c.state, c.status);
      this.o.events.emit('container', 'start-failed', c.id, { name: c.name, error: err.message });
      this.notify(c);
      // docker's rule: a --rm container that cannot start is removed too
      if (c.spec.autoRemove)
        await this.removeLocked(c).catch((re) =>
          this.log('warn', 'removing a --rm container that failed to start failed', {
            id: c.id,
            error: String(re),
          }),
        );
      throw err;
    }
  }

  /** `runtime delete -f`, then waits for its conmon to go (it writes an exit file we drop). */
  private async deleteRuntimeState(id: string, rt: OciRuntime): Promise<void> {
    const conmonPid = Number(
      (await readFile(join(this.dir(id), 'conmon.pid'), 'utf8').catch(() => '0')).trim(),
    );
    await rt.delete(id, true);
    for (let i = 0; i < 500 && this.o.platform.alive(conmonPid); i++) await sleep(10);
    await this.watcher?.discard(id);
  }

  // ---------------------------------------------------------------- exit

  /** Called by the exit watcher with conmon's status; also by reconciliation. */
  handleExit(id: string, status: number): Promise<void> {
    return this.withLock(id, async () => {
      const c = this.store.get(id);
      if (c?.state !== 'running') return;
      await this.recordExit(c, status);
    });
  }

  private async recordExit(c: Container, status: number): Promise<void> {
    const t0 = performance.now();
    const oomFile = existsSync(join(this.dir(c.id), 'oom'));
    const details = c.status.scope
      ? await this.o.platform.exitDetails(c.status.scope).catch(() => ({ oomKilled: false }))
      : { oomKilled: false };
    const finishedAt = await this.exitTime(c.id);
    // The exit is recorded whatever the release does: a failed release makes the record 'dead'
    // (holding the error; rm retries the release), never leaves it 'running'.
    const failed = await this.release(c).then(
      () => undefined,
      (e: unknown) => e as BrigError,
    );
    this.log('debug', 'container released', { id: c.id, ms: Math.round(performance.now() - t0) });
    const reason = exitReason(status, oomFile || details.oomKilled);
    c.state = failed ? 'dead' : 'exited';
    c.status = { ...c.status, exitCode: status, reason, finishedAt };
    delete c.status.pid;
    delete c.status.conmonPid;
    // a dead container keeps its scope: the retried release still has to remove it
    if (failed) c.status.error = failed.message;
    else delete c.status.scope;
    this.store.update(c.id, c.state, c.status);
    this.o.events.emit('container', 'die', c.id, { name: c.name, exitCode: String(status), reason });
    if (reason === 'oom-killed') this.o.events.emit('container', 'oom', c.id, { name: c.name });
    this.notify(c);
    if (failed) return;
    if (c.spec.autoRemove) {
      await this.removeLocked(c);
      return;
    }
    if (!this.closed && shouldRestart(c.spec.restart, c.status)) this.scheduleRestart(c);
  }

  /**
   * When the process exited: the mtime of conmon's exit file (written at the exit, so right for
   * an exit brigd learns of late, at its restart); now when there is none.
   */
  private async exitTime(id: string): Promise<number> {
    const now = Date.now();
    for (const f of [join(this.dirs.exits, id), join(this.dir(id), 'exit')]) {
      let mtimeMs: number | undefined;
      try {
        mtimeMs = statSync(f).mtimeMs;
      } catch {}
      if (mtimeMs !== undefined) return Math.min(now, Math.round(mtimeMs));
    }
    return now;
  }

  /**
   * Releases everything a run holds. Each part is idempotent, so it also cleans leftovers.
   * Throws ERR_RUNTIME naming every failure (the caller records the container 'dead').
   */
  private async release(c: Container): Promise<void> {
    const { rt } = await this.runtime();
    const errors: unknown[] = [];
    const attempt = async (fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    };
    // the process is gone: runtime state and cgroup, and mounts and snapshot, in parallel
    await Promise.all([
      (async () => {
        await attempt(() => rt.delete(c.id, true));
        if (c.status.scope) await attempt(() => this.o.platform.releaseResources(c.id, c.status.scope!));
      })(),
      (async () => {
        await attempt(() => this.o.platform.unmountBelow(join(this.dir(c.id), 'rootfs')));
        await attempt(() => this.o.rootfs.remove(c.id));
      })(),
    ]);
    if (errors.length) {
      this.log('error', 'releasing a container failed', { id: c.id, errors: errors.map(String) });
      const denied = errors.some((e) =>
        ['EPERM', 'EACCES'].includes((e as NodeJS.ErrnoException).code ?? ''),
      );
      throw new BrigError(
        'ERR_RUNTIME',
        `container ${c.name}: cannot release what it held: ${errors.map((e) => (e as Error).message ?? String(e)).join('; ')}`,
        {
          hint: denied
            ? `A file in its root filesystem cannot be removed: it may be immutable or append-only (see lsattr; remove the flag with chattr -i / chattr -a). Then \`brig rm -f ${c.name}\` retries the release.`
            : `Fix the cause above, then \`brig rm -f ${c.name}\` retries the release.`,
          details: { id: c.id },
        },
      );
    }
  }

  private scheduleRestart(c: Container): void {
    const ranMs = (c.status.finishedAt ?? 0) - (c.status.startedAt ?? 0);
    const n = ranMs >= 10_000 ? 0 : c.status.restartCount;
    const delay = restartDelay(n);
    c.status.restartAt = Date.now() + delay;
    this.store.update(c.id, c.state, c.status);
    const timer = setTimeout(() => {
      this.timers.delete(c.id);
      void this.withLock(c.id, async () => {
        const cur = this.store.get(c.id);
        if (cur?.state !== 'exited' || cur.status.restartAt === undefined || this.closed) return;
        try {
          await this.startLocked(cur, true);
        } catch (e) {
          this.log('warn', 'restart failed', { id: c.id, error: String(e) });
          const again = this.store.get(c.id);
          if (
            again &&
            !this.closed &&
            shouldRestart(again.spec.restart, { ...again.status, exitCode: 125 })
          ) {
            again.status.restartCount += 1;
            this.scheduleRestart(again);
          }
        }
      });
    }, delay);
    timer.unref();
    this.timers.set(c.id, timer);
  }

  private cancelRestart(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  private notify(c: Container): void {
    const ws = this.waiters.get(c.id);
    if (!ws) return;
    this.waiters.delete(c.id);
    for (const w of ws) w(c);
  }

  // ---------------------------------------------------------------- stop, kill, restart

  /** Sends the stop signal, then SIGKILL after the timeout (seconds). */
  async stop(ref: string, opts: { timeout?: number; signal?: string } = {}): Promise<Container> {
    const c = this.store.find(ref);
    // Decided under the lock: an exit being recorded right now cannot schedule a restart after it.
    const state = await this.withLock(c.id, async () => {
      this.cancelRestart(c.id);
      const cur = this.store.get(c.id);
      if (!cur) return undefined;
      cur.status.stoppedByUser = true;
      delete cur.status.restartAt;
      this.store.update(cur.id, cur.state, cur.status);
      return cur.state;
    });
    if (!state || !canStop(state)) return this.store.find(c.id);
    const image = await this.o.images.resolve(c.spec.image).catch(() => undefined);
    const signal = opts.signal ?? c.spec.stopSignal ?? image?.config.config?.StopSignal ?? 'SIGTERM';
    const timeout = opts.timeout ?? c.spec.stopTimeout ?? STOP_TIMEOUT_DEFAULT;
    const exited = this.waitExit(c.id);
    const { rt } = await this.runtime();
    await rt.kill(c.id, signal);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeout * 1000);
      }),
    ]);
    clearTimeout(timer);
    if (!done) {
      await rt.kill(c.id, 'SIGKILL', true);
      await exited;
    }
    this.o.events.emit('container', 'stop', c.id, { name: c.name });
    return this.store.get(c.id)!;
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<Container> {
    const c = this.store.find(ref);
    if (!canKill(c.state)) {
      throw new BrigError('ERR_CONTAINER_STATE', `container ${c.name} is not running`);
    }
    await this.markStoppedByUser(c.id);
    const { rt } = await this.runtime();
    if (!(await rt.kill(c.id, signal))) {
      throw new BrigError('ERR_RUNTIME', `cannot send ${signal} to container ${c.name}`);
    }
    this.o.events.emit('container', 'kill', c.id, { name: c.name, signal });
    return this.store.get(c.id)!;
  }

  async restart(ref: string, opts: { timeout?: number } = {}): Promise<Container> {
    const c = this.store.find(ref);
    if (c.state === 'running') await this.stop(c.id, opts);
    return this.start(c.id);
  }

  private markStoppedByUser(id: string): Promise<void> {
    return this.withLock(id, async () => {
      const c = this.store.get(id);
      if (!c) return;
      c.status.stoppedByUser = true;
      this.store.update(id, c.state, c.status);
    });
  }

  /** Resolves once the container is no longer running (immediately when it is not). */
  private waitExit(id: string): Promise<Container> {
    return new Promise((resolve) => {
      const c = this.store.get(id);
      if (c?.state !== 'running') {
        if (c) resolve(c);
        return;
      }
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  /**
   * `brig wait`: blocks until the container's next exit (or returns its last one when it is not
   * running and no restart is pending).
   */
  async wait(ref: string): Promise<{ exitCode: number; reason?: string; error?: string }> {
    let c: Container;
    try {
      c = this.store.find(ref);
    } catch (e) {
      const gone = this.removedExits.get(ref);
      if (gone) return gone;
      throw e;
    }
    const pending = c.state === 'exited' && c.status.restartAt !== undefined;
    const done = c.state === 'running' || pending ? await this.waitNext(c.id) : c;
    if (done.status.exitCode === undefined && this.removedExits.has(c.id))
      return this.removedExits.get(c.id)!;
    return {
      exitCode: done.status.exitCode ?? 0,
      ...(done.status.reason ? { reason: done.status.reason } : {}),
      ...(done.status.error ? { error: done.status.error } : {}),
    };
  }

  /** Resolves once every operation queued on the container so far (an exit, its --rm) is done. */
  async settled(id: string): Promise<void> {
    await this.withLock(id, async () => {});
  }

  private waitNext(id: string): Promise<Container> {
    return new Promise((resolve) => {
      const list = this.waiters.get(id) ?? [];
      list.push(resolve);
      this.waiters.set(id, list);
    });
  }

  // ---------------------------------------------------------------- remove

  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const id = this.store.find(ref).id;
    // Decided under the container's lock, every time: a restart whose timer has fired holds the
    // lock from its first step to `runtime start` (or waits for it), so what the removal sees
    // there is final. Read before the lock, a container that was 'exited' could be running by the
    // time of the removal, and be released with its process alive. A running container is killed
    // (marked stopped by the user: its exit schedules no restart) and the removal decides again
    // once the exit is recorded; a `start` in between only means one more round.
    for (;;) {
      const exited = await this.withLock(id, async () => {
        this.cancelRestart(id);
        const c = this.store.get(id);
        if (!c) return undefined; // gone meanwhile (--rm, another rm)
        if (!canRemove(c.state, opts.force ?? false)) {
          throw new BrigError('ERR_CONTAINER_RUNNING', `container ${c.name} is running`);
        }
        // docker's rule: a restart pending in back-off makes the container as good as running
        if (!opts.force && shownState(c) === 'restarting') {
          throw new BrigError('ERR_CONTAINER_RUNNING', `container ${c.name} is restarting`, {
            hint: `Stop it first (\`brig stop ${c.name}\`), or force the removal with \`brig rm -f ${c.name}\`.`,
          });
        }
        if (c.state !== 'running') {
          await this.removeLocked(c, opts.volumes ?? false);
          return undefined;
        }
        c.status.stoppedByUser = true;
        delete c.status.restartAt;
        this.store.update(c.id, c.state, c.status);
        const exit = this.waitExit(c.id);
        const { rt } = await this.runtime();
        await rt.kill(c.id, 'SIGKILL', true);
        // (wrapped: an async function returning the promise itself would wait for it, in the lock)
        return { exit };
      });
      if (!exited) return;
      // (recorded by handleExit, which takes the lock; autoRemove containers remove themselves)
      await exited.exit;
    }
  }

  private async removeLocked(c: Container, removeVolumes = false): Promise<void> {
    if (c.state === 'running') await this.release(c).catch(() => {});
    if (c.state === 'dead') {
      // retry the release that failed; while it fails, the record stays (with the error now)
      try {
        await this.release(c);
      } catch (e) {
        c.status.error = (e as Error).message;
        this.store.update(c.id, c.state, c.status);
        throw e;
      }
    }
    // volumes, privileges and the container's directory are independent: released together
    // (each failure is the same as before: logged for the first two, thrown for the directory)
    const [, , dirRemoved] = await Promise.allSettled([
      this.o.mounts
        .releaseAll(c.id, { removeAnonymous: c.spec.autoRemove || removeVolumes })
        .catch((e) => this.log('warn', 'releasing volumes failed', { id: c.id, error: String(e) })),
      this.o.privileges
        ?.release(c.id)
        .catch((e) => this.log('warn', 'releasing privileges failed', { id: c.id, error: String(e) })),
      this.removeDir(c.id),
    ]);
    if (dirRemoved.status === 'rejected') throw dirRemoved.reason;
    this.store.delete(c.id);
    if (c.status.exitCode !== undefined) {
      const r = {
        exitCode: c.status.exitCode,
        ...(c.status.reason ? { reason: c.status.reason } : {}),
        ...(c.status.error ? { error: c.status.error } : {}),
      };
      this.removedExits.set(c.id, r);
      this.removedExits.set(c.name, r);
      while (this.removedExits.size > 2000) this.removedExits.delete(this.removedExits.keys().next().value!);
    }
    this.o.events.emit('container', 'destroy', c.id, { name: c.name });
    this.notify(c);
  }

  /**
   * The OCI mounts of the container's volumes, binds and tmpfs. A volume made for this container
   * first gets the image's files at its destination (docker's behaviour), once.
   */
  private async volumeMounts(c: Container, rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    const { lstat, readdir } = await import('node:fs/promises');
    const { resolveInRoot } = await import('../runtime/in-root.ts');
    for (const m of c.spec.resolvedMounts ?? []) {
      if (m.populate && !(c.status.populated ?? []).includes(m.destination)) {
        // The destination as the runtime will mount it: resolved the container's way (a link's
        // absolute target is taken inside the root, `..` stops at it), so the image's files
        // there, never the host's. No process runs in this fresh root yet: nothing changes it.
        // (hostView: below the simulated host's mounts, the files are in the mount's source)
        const root = this.o.platform.hostView?.(rootfs) ?? rootfs;
        const from = await resolveInRoot(root, m.destination).catch(() => undefined);
        const isDir =
          from !== undefined && from !== root && (await lstat(from).catch(() => undefined))?.isDirectory();
        const empty = (await readdir(m.source).catch(() => ['?'])).length === 0;
        if (isDir && empty) await this.o.platform.runner.run('cp', ['-a', '--', `${from}/.`, `${m.source}/`]);
        c.status.populated = [...(c.status.populated ?? []), m.destination];
      }
      if (m.type === 'tmpfs') {
        out.push({ destination: m.destination, type: 'tmpfs', source: 'tmpfs', options: m.options });
      } else {
        const opts = m.options.filter((o) => o !== 'bind' && o !== 'rbind');
        out.push({ destination: m.destination, type: 'bind', source: m.source, options: ['rbind', ...opts] });
      }
    }
    return out;
  }

  /**
   * Removes a container's directory, never through a mount: `rm -r` crosses mount points, so a
   * mount still below it (an unmount that failed: a busy nullfs volume on FreeBSD, where the
   * runtime mounts volumes in the host's namespace; a bind nobody took down) would delete the
   * mount's source, a volume's or a host directory's files. Then ERR_RUNTIME, nothing removed.
   */
  private async removeDir(id: string): Promise<void> {
    const dir = this.dir(id);
    const left = await this.o.platform.mountsBelow(dir);
    if (left.length > 0) {
      throw new BrigError(
        'ERR_RUNTIME',
        `container ${id}: ${left.join(', ')} still mounted in its directory`,
        {
          hint: `Unmount ${left[0]} (and anything else listed), then remove the container again.`,
          details: { id, mounts: left },
        },
      );
    }
    await rm(dir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- queries

  get(ref: string): Container {
    return this.store.find(ref);
  }

  list(opts: { all?: boolean } = {}): Container[] {
    const all = this.store.list();
    // like docker: a restarting container (restart pending) is listed with the running ones
    return opts.all ? all : all.filter((c) => c.state === 'running' || shownState(c) === 'restarting');
  }

  logPath(ref: string): string {
    return join(this.dir(this.store.find(ref).id), 'ctr.log');
  }

  async stats(ref: string) {
    return this.o.platform.stats(this.runningScope(ref));
  }

  async top(ref: string) {
    return this.o.platform.processes(this.runningScope(ref));
  }

  /** The resource scope of a running container (ERR_CONTAINER_STATE when it is not running). */
  private runningScope(ref: string): string {
    const c = this.store.find(ref);
    if (c.state !== 'running' || !c.status.scope) {
      throw new BrigError('ERR_CONTAINER_STATE', `container ${c.name} is not running`);
    }
    return c.status.scope;
  }

  /** For exec: the runtime and the running container. */
  /**
   * Runs `fn` on a running container's root filesystem (as mounted on the host) with the
   * container's processes frozen, when the runtime can (runc, crun): brigd resolves paths in the
   * root the container's way and then uses them, and a process of the container that swapped a
   * directory for a symlink in between would send brigd's reads and writes (`brig cp`, the exec
   * user's lookup) to the host. Nested and concurrent calls share one pause.
   *
   * `fn` gets the root as the container sees it: on Linux `/proc/<pid>/root` of its init, so that
   * its volumes, binds and tmpfs mounts are crossed as inside the container (a path under a volume
   * is the volume's file, not the root directory's hidden one below the mount point). Callers
   * resolve paths under it with resolveInRoot (components one by one, links read and resolved by
   * brigd inside that root): the kernel never follows a link of the container's on the way.
   * Elsewhere (FreeBSD: the jail's mounts are in the host's namespace) the root directory itself.
   */
  async whileFrozen<T>(ref: string, fn: (c: Container, rootfs: string) => Promise<T>): Promise<T> {
    const { c, rt } = await this.execTarget(ref);
    const rootfs = join(this.dir(c.id), 'rootfs');
    if (!rt.canPause) return fn(c, await this.containerView(c, rootfs));
    let f = this.frozen.get(c.id);
    if (!f) {
      f = { count: 0, paused: rt.pause(c.id, true) };
      this.frozen.set(c.id, f);
    }
    f.count++;
    try {
      await f.paused;
      return await fn(c, await this.containerView(c, rootfs));
    } finally {
      if (--f.count === 0) {
        this.frozen.delete(c.id);
        await f.paused.then(
          () =>
            rt.pause(c.id, false).catch((e) => {
              // (gone meanwhile is fine; anything else leaves it paused until reconcile)
              if (this.store.get(c.id)?.state === 'running')
                this.log('error', 'resuming a container failed', { id: c.id, error: String(e) });
            }),
          () => {},
        );
      }
    }
  }

  /**
   * The root as the container's processes see it (see whileFrozen). On Linux, `/proc/<pid>/root`
   * once checked to be the container's: its init is in another mount namespace than brigd's and
   * in the container's cgroup (a pid reused by a host process would give the host's root: then
   * ERR_CONTAINER_STATE, as for a container that is not running).
   */
  private async containerView(c: Container, rootfs: string): Promise<string> {
    // (the simulated FreeBSD host: its nullfs root mount exists only in its state, hostView gives
    // the directory behind it; its volume mounts below are not crossed)
    if (this.o.platform.os !== 'linux') return this.o.platform.hostView?.(rootfs) ?? rootfs;
    const pid = c.status.pid;
    const gone = () => new BrigError('ERR_CONTAINER_STATE', `container ${c.name} is not running`);
    if (!pid || !c.status.scope) throw gone();
    const { readlink } = await import('node:fs/promises');
    const [ns, own, cgroup] = await Promise.all([
      readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined),
      readlink('/proc/self/ns/mnt'),
      readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''),
    ]);
    const scope = c.status.scope.replace(/\/+$/, '').split('/').pop()!;
    if (!ns || ns === own || !cgroup.split('\n').some((l) => l.split('/').includes(scope))) throw gone();
    return `/proc/${pid}/root`;
  }

  /**
   * `brig cp` into a running container: the tar stream extracted into the directory `path` as
   * the container sees it (its volumes and binds included; see src/containers/copy.ts), frozen.
   */
  async copyIn(ref: string, path: string, tar: import('node:stream').Readable): Promise<void> {
    const { extractInto } = await import('./copy.ts');
    await this.whileFrozen(ref, (c, root) => {
      if (this.o.platform.os !== 'linux') return extractInto(root, path, tar);
      const binds = (c.spec.resolvedMounts ?? []).filter((m) => m.type === 'bind');
      return extractInto(root, path, tar, { rootfs: join(this.dir(c.id), 'rootfs'), binds });
    });
  }

  async execTarget(ref: string): Promise<{ c: Container; rt: OciRuntime }> {
    const c = this.store.find(ref);
    if (!canExec(c.state)) throw new BrigError('ERR_CONTAINER_STATE', `container ${c.name} is not running`);
    return { c, rt: (await this.runtime()).rt };
  }

  async resize(ref: string, rows: number, cols: number): Promise<void> {
    const c = this.store.find(ref);
    await resizeTerminal(this.dir(c.id), rows, cols);
  }

  /** The attach socket path (conmon's, through its short symlink). */
  attachSocket(ref: string): string {
    const c = this.store.find(ref);
    return join(this.dirs.sockets, shortId(c.id), 'attach');
  }

  // ---------------------------------------------------------------- reconciliation

  /**
   * Makes the records true again after brigd was down (see the header). Returns what it did.
   */
  async reconcile(): Promise<{ stillRunning: string[]; exited: string[]; cleaned: string[] }> {
    const { rt } = await this.runtime();
    const states = new Map((await rt.list()).map((s) => [s.id, s]));
    const out = { stillRunning: [] as string[], exited: [] as string[], cleaned: [] as string[] };
    const records = this.store.list();
    const known = new Set(records.map((c) => c.id));
    // restarts are scheduled after the orphan sweep below, which must not see a start half-made
    const restarts: string[] = [];
    for (const c of records) {
      await this.withLock(c.id, async () => {
        const cur = this.store.get(c.id);
        if (!cur) return;
        const wasRunning = cur.state === 'running';
        if (cur.state === 'running') {
          const st = states.get(cur.id);
          const conmonAlive = this.o.platform.alive(cur.status.conmonPid ?? 0);
          if (st && (st.status === 'running' || st.status === 'paused') && conmonAlive) {
            // brig pauses only while it reads or writes the root filesystem (whileFrozen): a
            // container still paused was left so by a brigd that stopped meanwhile
            if (st.status === 'paused') await rt.pause(cur.id, false).catch(() => {});
            out.stillRunning.push(cur.id);
            return;
          }
          // died while brigd was away: the exit file has its status (the watcher's sweep may
          // already have handled it; then the state is no longer 'running'). A conmon still
          // alive is about to write it and then exit: wait for that (as deleteRuntimeState does)
          // rather than record 255 "no exit status" when conmon was slower than brigd's start.
          if (!(st && st.status === 'running'))
            for (let i = 0; i < 500 && this.o.platform.alive(cur.status.conmonPid ?? 0); i++) await sleep(10);
          let code = await this.watcher?.read(cur.id);
          if (code === undefined) {
            const persisted = await readFile(join(this.dir(cur.id), 'exit'), 'utf8').catch(() => undefined);
            code = persisted !== undefined ? Number.parseInt(persisted, 10) : undefined;
          }
          if (st && st.status === 'running' && !conmonAlive) {
            // conmon is gone but the process lives: nobody will report its exit; stop it.
            await rt.kill(cur.id, 'SIGKILL', true);
            code ??= 137;
          }
          // (a failed release records it 'dead' and logs why: brigd starts anyway)
          await this.recordExit(cur, code ?? 255).catch((e) =>
            this.log('error', 'recording an exit failed', { id: cur.id, error: String(e) }),
          );
          if (code === undefined && (cur.state as ContainerState) === 'exited') {
            cur.status.error = 'the container ended while brigd was not running and left no exit status';
            this.store.update(cur.id, cur.state, cur.status);
          }
          await this.watcher?.discard(cur.id);
          out.exited.push(cur.id);
        } else if (states.has(cur.id)) {
          // brigd died in the middle of a start: the runtime has it, the record never said running
          await rt.delete(cur.id, true).catch(() => {});
          await this.watcher?.discard(cur.id);
          out.cleaned.push(`runtime:${cur.id}`);
        }
        if (wasRunning) return;
        if (cur.state === 'exited' && cur.status.restartAt !== undefined) {
          restarts.push(cur.id);
        } else if (cur.state === 'exited' && cur.spec.restart.name === 'always' && cur.status.stoppedByUser) {
          // docker's rule: a daemon start restarts `always` containers even when the user had
          // stopped them (that is what tells `always` from `unless-stopped`)
          delete cur.status.stoppedByUser;
          this.store.update(cur.id, cur.state, cur.status);
          restarts.push(cur.id);
        } else if (cur.state === 'dead') {
          try {
            await this.release(cur);
            cur.state = 'exited';
            delete cur.status.error;
            delete cur.status.scope;
            this.store.update(cur.id, cur.state, cur.status);
          } catch (e) {
            cur.status.error = (e as Error).message;
            this.store.update(cur.id, cur.state, cur.status);
            this.log('error', 'a dead container still cannot be released', { id: cur.id, error: String(e) });
          }
        }
      });
    }
    // orphans: runtime states, scopes, mounts, snapshots, directories that no record owns
    for (const id of states.keys()) {
      if (!known.has(id)) {
        await rt.delete(id, true).catch(() => {});
        out.cleaned.push(`runtime:${id}`);
      }
    }
    const scopes = new Set(records.map((c) => c.status.scope).filter((s): s is string => !!s));
    for (const s of await this.o.platform.orphanScopes(this.daemonTag, scopes)) {
      await this.o.platform.releaseResources(s.slice(s.lastIndexOf('/') + 1), s).catch(() => {});
      out.cleaned.push(`scope:${s}`);
    }
    const { readdir } = await import('node:fs/promises');
    for (const name of await readdir(this.dirs.containers).catch(() => [] as string[])) {
      if (!known.has(name)) {
        await this.o.platform.unmountBelow(join(this.dir(name), 'rootfs')).catch(() => {});
        try {
          await this.removeDir(name);
          out.cleaned.push(`dir:${name}`);
        } catch (e) {
          this.log('error', 'an orphan container directory cannot be removed', {
            id: name,
            error: String(e),
          });
        }
      }
    }
    for (const id of await this.o.rootfs.list()) {
      const c = this.store.get(id);
      if (c?.state !== 'running') {
        if (c) await this.o.platform.unmountBelow(join(this.dir(id), 'rootfs')).catch(() => {});
        await this.o.rootfs.remove(id).catch(() => {});
        out.cleaned.push(`snapshot:${id}`);
      }
    }
    for (const id of restarts) {
      await this.withLock(id, async () => {
        const cur = this.store.get(id);
        if (cur?.state === 'exited' && !this.closed) this.scheduleRestart(cur);
      });
    }
    if (out.exited.length || out.cleaned.length) this.log('info', 'reconciled containers', out);
    return out;
  }
}

/**
 * The error a failed start answers with, and the exit code recorded for it. The runtime's
 * refusal to execute the command (src/runtime/oci-runtime.ts commandFailure) becomes
 * ERR_CONTAINER_COMMAND_NOT_FOUND (127) or ERR_CONTAINER_COMMAND_NOT_EXECUTABLE (126) with a plain message naming the
 * command and `details.exitCode`; anything else keeps its error (ERR_RUNTIME_START when it was
 * not a BrigError) and 125.
 */
function startError(e: unknown, id: string): { err: BrigError; exitCode: number } {
  const failed = isBrigError(e, 'ERR_RUNTIME_START') ? commandFailure(e.message) : undefined;
  if (failed) {
    const { exitCode, command, reason } = failed;
    return {
      exitCode,
      err: new BrigError(
        exitCode === 127 ? 'ERR_CONTAINER_COMMAND_NOT_FOUND' : 'ERR_CONTAINER_COMMAND_NOT_EXECUTABLE',
        `${command}: ${reason}`,
        { cause: e, details: { exitCode, command, id } },
      ),
    };
  }
  if (e instanceof BrigError) return { err: e, exitCode: 125 };
  return {
    err: new BrigError('ERR_RUNTIME_START', `start failed: ${(e as Error).message}`, { cause: e }),
    exitCode: 125,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
