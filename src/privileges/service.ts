/**
 * PrivilegeService: the daemon's side of the security model. It ties together the image's
 * requests (its `brig.privileges`), the host policy (src/policy), the caller's --grant values,
 * devfs ruleset allocation (src/devfs, persisted in brig.db) and the platform.
 *
 * Call order for one container (the containers service drives it):
 *   1. identify(socket)          only when --grant is used: who is calling (src/platform/peer.ts)
 *   2. check(image, run, caller) BEFORE anything is created: ERR_GRANT_NOT_ALLOWED when --grant
 *                                is used by a non-administrator; ERR_PRIVILEGE_INVALID for an
 *                                unknown --grant spelling; ERR_PRIVILEGE_REFUSED listing EVERY
 *                                refusal (privileges, bind mounts, ports) with its fix;
 *                                ERR_UNSUPPORTED_PLATFORM for granted items the host cannot do.
 *   3. acquireForContainer(id, decision.composed)  at create, once the id exists: the devfs
 *                                ruleset number (shared by identical compositions, reference-
 *                                counted; FreeBSD: loaded with devfs(8) when new). Undo:
 *                                releaseContainer(id).
 *   4. recordOverrides(id, ...)  one `policy grant` event per --grant override, naming the
 *                                caller (uid, user), the privilege and the image digest.
 *   5. grantFor(id, decision)    at every start: the Platform's PrivilegeGrant (Linux: devices
 *                                from the host's /dev inventory, capabilities, IPC namespace).
 *   6. releaseContainer(id)      when the container is removed (FreeBSD: the ruleset is deleted
 *                                from the kernel when its last user goes).
 * At daemon start: reconcile(liveContainerIds) drops users that no longer exist, then (FreeBSD,
 * real or simulated) compares with `devfs rule showsets`: loads rulesets the kernel lacks and
 * deletes those in brig's range that no container uses. Linux has nothing in the kernel.
 *
 * Allocation happens at create (not start), so `brig devfs ls` shows created containers too and
 * a created container can always start: exhaustion is reported by create.
 */
import type { Socket } from 'node:net';
import {
  type Acquired,
  type ComposedRuleset,
  type DeviceNode,
  deleteRulesetCommands,
  type EvaluateOptions,
  loadRulesetCommands,
  parseShowsets,
  type Released,
  RulesetAllocator,
  type RulesetEntry,
  rulesetOf,
  SHOWSETS_COMMAND,
} from '../devfs/index.ts';
import { SqliteRulesetStore } from '../devfs/sqlite-store.ts';
import { BrigError } from '../errors/errors.ts';
import type { EventLog } from '../events/events.ts';
import type { BrigSection } from '../images/brig-section.ts';
import type { ImageDetails } from '../images/image-service.ts';
import type { DB } from '../metadata/db.ts';
import type { CommandRunner } from '../platform/exec.ts';
import { assertLimitsSupported } from '../platform/freebsd/racct.ts';
import type { PeerCredentials, PeerLookup } from '../platform/peer.ts';
import type { PrivilegeGrant, ResourceLimits } from '../platform/platform.ts';
import { type Policy, parseGrant, refusalError, unrequestedGrants } from '../policy/index.ts';
import { type Explanation, explainImage } from './explain.ts';
import { assertSupported, decide, type PrivilegeDecision, platformGrant } from './grant.ts';

export interface PrivilegeServiceOptions {
  policy: Policy;
  db: DB;
  events: EventLog;
  os: 'linux' | 'freebsd';
  /** Runs devfs(8) on FreeBSD (the simulated host's runner under freebsd-simulated). */
  runner: CommandRunner;
  /** Names (or numeric ids) of groups whose members administer the daemon (`admin.groups`). */
  adminGroups: readonly string[];
  /** Group name -> gid (src/platform/defaults.ts resolveGroup). */
  resolveGroup(name: string): Promise<number | undefined>;
  peer?: PeerLookup;
  socketPath?: string;
  /** Linux: the host's devices. */
  inventory?: () => DeviceNode[];
  /** Linux: user and group names (devfs rules may use them; events name the caller). */
  ids?: () => EvaluateOptions;
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

/** The image facts the service needs. */
export interface ImageFacts {
  /** The fully qualified reference the image is run by (policy.images matching). */
  ref?: string;
  /** Manifest digest (or config digest when that is all the caller has): named in events. */
  digest: string;
  brig: Pick<BrigSection, 'privileges'>;
}

export interface RunFacts {
  grants?: readonly string[];
  binds?: readonly string[];
  ports?: readonly number[];
}

export interface DevfsRulesetInfo {
  number: number;
  hash: string;
  rules: string[];
  containers: string[];
}

export class PrivilegeService {
  readonly allocator: RulesetAllocator;
  readonly #o: PrivilegeServiceOptions;

  constructor(o: PrivilegeServiceOptions) {
    this.#o = o;
    this.allocator = new RulesetAllocator(new SqliteRulesetStore(o.db), o.policy.devfs.rulesets);
  }

  get policy(): Policy {
    return this.#o.policy;
  }

  /** The peer process of an API connection; undefined when it cannot be told. */
  async identify(socket: Socket): Promise<PeerCredentials | undefined> {
    if (!this.#o.peer) return undefined;
    try {
      return await this.#o.peer(socket, this.#o.socketPath ?? '');
    } catch (e) {
      this.#o.log?.('warn', 'cannot identify the API caller', { error: String(e) });
      return undefined;
    }
  }

  /** Root, or a member (primary or supplementary) of a group in `admin.groups`. */
  async isAdministrator(caller: Partial<PeerCredentials> | undefined): Promise<boolean> {
    if (!caller || caller.uid === undefined) return false;
    if (caller.uid === 0) return true;
    for (const g of this.#o.adminGroups) {
      const gid = /^\d+$/.test(g) ? Number(g) : await this.#o.resolveGroup(g);
      if (gid !== undefined && (caller.gid === gid || (caller.groups ?? []).includes(gid))) return true;
    }
    return false;
  }

  /**
   * Step 2 of the header: the decision, or the error. Nothing is changed; safe to call again
   * (at start, with the stored --grant values and no caller check: `trusted`).
   */
  async check(
    image: ImageFacts,
    run: RunFacts,
    caller: Partial<PeerCredentials> | undefined,
    opts: { trusted?: boolean } = {},
  ): Promise<PrivilegeDecision> {
    const grants = run.grants ?? [];
    for (const g of grants) parseGrant(g);
    if (grants.length > 0 && !opts.trusted) await this.#assertAdministrator(caller);
    const d = decide(image.brig.privileges, this.#o.policy, {
      ...(image.ref ? { imageRef: image.ref } : {}),
      grants,
      ...(run.binds ? { binds: run.binds } : {}),
      ...(run.ports ? { ports: run.ports } : {}),
    });
    if (d.refusals.length > 0) throw refusalError(d.refusals, image.ref, { atStart: opts.trusted === true });
    // a --grant that could never take effect is refused (docs/privileges.md): the operator
    // would believe the container has it. Not at start: the values were accepted at create.
    const unused = opts.trusted ? [] : unrequestedGrants(image.brig.privileges, grants, run);
    if (unused.length)
      throw new BrigError(
        'ERR_GRANT_UNUSED',
        `--grant ${unused.join(', ')}: ${unused.length === 1 ? 'not a privilege' : 'not privileges'} the image${image.ref ? ` ${image.ref}` : ''} requests`,
        { details: { grants: unused } },
      );
    assertSupported(d.grant, this.#o.os);
    // Devices are evaluated now too, so an unknown user/group name in a rule fails before create.
    if (this.#o.os === 'linux') platformGrant(d.grant, d.composed, this.#hostFacts());
    return d;
  }

  /** Step 3: the container's ruleset (FreeBSD: loaded into the kernel when new). */
  async acquireForContainer(containerId: string, composed: ComposedRuleset): Promise<Acquired> {
    const a = this.allocator.acquire(containerId, composed);
    if (this.#o.os === 'freebsd') {
      try {
        if (a.released?.freed) await this.#runAll(deleteRulesetCommands(a.released.number));
        if (a.created) await this.#runAll(loadRulesetCommands(a.number, composed));
      } catch (e) {
        this.allocator.release(containerId);
        if (a.created) await this.#runAll(deleteRulesetCommands(a.number)).catch(() => {});
        throw e;
      }
    }
    if (a.created)
      this.#o.events.emit('devfs', 'create', String(a.number), { hash: a.hash, container: containerId });
    return a;
  }

  /** Step 6 (and the undo of step 3). Idempotent. */
  async releaseContainer(containerId: string): Promise<Released | undefined> {
    const r = this.allocator.release(containerId);
    if (r?.freed) {
      if (this.#o.os === 'freebsd')
        await this.#runAll(deleteRulesetCommands(r.number)).catch((e) =>
          this.#o.log?.('warn', 'deleting a devfs ruleset failed', { number: r.number, error: String(e) }),
        );
      this.#o.events.emit('devfs', 'destroy', String(r.number), { container: containerId });
    }
    return r;
  }

  /** Step 4: one event per override (privileges, then bind mounts and ports). */
  recordOverrides(
    containerId: string,
    decision: PrivilegeDecision,
    image: ImageFacts,
    caller: Partial<PeerCredentials> | undefined,
  ): void {
    const user = caller?.user ?? this.#userName(caller?.uid);
    for (const item of [...decision.grant.overrides, ...decision.runOverrides]) {
      this.#o.events.emit('policy', 'grant', containerId, {
        privilege: item,
        image: image.ref ?? '',
        imageDigest: image.digest,
        uid: caller?.uid !== undefined ? String(caller.uid) : '',
        ...(user ? { user } : {}),
        ...(caller?.pid !== undefined ? { pid: String(caller.pid) } : {}),
      });
    }
  }

  /** Step 5: the Platform's PrivilegeGrant for the container's bundle. */
  grantFor(containerId: string, decision: PrivilegeDecision): PrivilegeGrant {
    const number = this.allocator.numberOf(containerId);
    return platformGrant(decision.grant, decision.composed, {
      ...this.#hostFacts(),
      ...(number !== undefined ? { rulesetNumber: number } : {}),
    });
  }

  async reconcile(
    liveContainerIds: Iterable<string>,
  ): Promise<{ released: Released[]; loaded: number[]; removed: number[] }> {
    const released = this.allocator.retain(liveContainerIds);
    if (this.#o.os !== 'freebsd') {
      this.allocator.reconcile([]);
      return { released, loaded: [], removed: [] };
    }
    const r = await this.#o.runner.run(SHOWSETS_COMMAND.cmd, SHOWSETS_COMMAND.args);
    const plan = this.allocator.reconcile(parseShowsets(r.stdout.toString('utf8')));
    for (const n of plan.remove) await this.#runAll(deleteRulesetCommands(n));
    for (const e of plan.load) await this.#runAll(loadRulesetCommands(e.number, rulesetOf(e.rules)));
    return { released, loaded: plan.load.map((e) => e.number), removed: plan.remove };
  }

  list(): DevfsRulesetInfo[] {
    return this.allocator.list().map((e: RulesetEntry) => ({
      number: e.number,
      hash: e.hash,
      rules: [...e.rules],
      containers: [...e.users],
    }));
  }

  /**
   * Whether this host can apply the run's resource limits: on FreeBSD rctl needs RACCT
   * (ERR_RACCT_DISABLED otherwise, src/platform/freebsd/racct.ts). Called at create, before
   * anything exists; nothing runs when no limit is set.
   */
  async checkLimits(limits: ResourceLimits): Promise<void> {
    if (this.#o.os === 'freebsd') await assertLimitsSupported(this.#o.runner, limits);
  }

  /**
   * Bind propagation on FreeBSD: ocijail ignores `private`/`rprivate` and hands any other option
   * to nmount(2), which nullfs refuses, so `shared`, `slave`, `rshared`, `rslave` could only fail
   * the start: refused here (ERR_UNSUPPORTED_PLATFORM), before anything exists.
   */
  checkPropagation(propagations: readonly string[]): void {
    if (this.#o.os !== 'freebsd') return;
    const bad = propagations.filter((p) => p !== 'private' && p !== 'rprivate');
    if (bad.length)
      throw new BrigError('ERR_UNSUPPORTED_PLATFORM', `bind propagation ${bad.join(', ')} is Linux-only`, {
        hint: 'Drop the propagation option: on FreeBSD a bind is a nullfs mount, which has none.',
        details: { propagation: bad },
      });
  }

  /** `brig image explain`; with --grant values only for an administrator (as for run). */
  async explain(
    details: ImageDetails,
    grants: readonly string[] = [],
    caller?: PeerCredentials,
    ref?: string,
  ): Promise<Explanation> {
    for (const g of grants) parseGrant(g);
    if (grants.length > 0) await this.#assertAdministrator(caller);
    return explainImage(details, this.#o.policy, { os: this.#o.os }, grants, ref);
  }

  /**
   * The caller, found only when --grant values are given (finding it scans processes); fills
   * the API request's `caller`.
   */
  async callerFor(
    grants: readonly string[] | undefined,
    socket: Socket,
    into?: { uid?: number; gid?: number; pid?: number },
  ): Promise<PeerCredentials | undefined> {
    if (!grants || grants.length === 0) return undefined;
    const c = await this.identify(socket);
    // all of it (groups and user too), so that a route may pass req.caller on as the caller
    if (c && into) Object.assign(into, c);
    return c;
  }

  async #assertAdministrator(caller: Partial<PeerCredentials> | undefined): Promise<void> {
    if (await this.isAdministrator(caller)) return;
    throw new BrigError(
      'ERR_GRANT_NOT_ALLOWED',
      `--grant needs an administrator of the daemon (root${this.#o.adminGroups.length ? ` or a member of ${this.#o.adminGroups.join(', ')}` : ''}); the caller is ${caller?.uid !== undefined ? `uid ${caller.uid}` : 'unknown'}`,
      {
        hint: 'Run as root, add the user to a group listed in admin.groups, or ask the operator to grant it in the policy.',
        details: { uid: caller?.uid ?? null },
      },
    );
  }

  #hostFacts() {
    if (this.#o.os !== 'linux') return { os: this.#o.os };
    return { os: this.#o.os, inventory: this.#o.inventory?.() ?? [], ids: this.#o.ids?.() ?? {} };
  }

  #userName(uid: number | undefined): string | undefined {
    if (uid === undefined) return undefined;
    const users = this.#o.ids?.().users ?? {};
    return Object.keys(users).find((k) => users[k] === uid);
  }

  async #runAll(cmds: readonly { cmd: string; args: readonly string[] }[]): Promise<void> {
    for (const c of cmds) await this.#o.runner.run(c.cmd, c.args);
  }
}
