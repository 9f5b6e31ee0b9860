/**
 * Plans: POST /containers/plan — what `brig run --dry-run` prints: the host commands a start
 * would run, in order, and the config.json it would write; nothing is run or changed
 * (src/plans/plan.ts). docs/api.md § Plans.
 */
import type { Services } from '../../daemon/services.ts';
import { BrigError } from '../../errors/errors.ts';
import { type PlanRequest, planRun } from '../../plans/plan.ts';
import { platformOver } from '../../platform/create.ts';
import type { CommandRunner } from '../../platform/exec.ts';
import type { Router } from '../router.ts';

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new BrigError('ERR_API_BODY', `${what} must be an array of strings`);
  return v as string[];
}

function opt<T>(v: unknown, type: 'string' | 'number' | 'boolean', what: string): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw new BrigError('ERR_API_BODY', `${what} must be a ${type}`);
  return v as T;
}

export function parsePlanRequest(b: Record<string, unknown>): PlanRequest {
  const image = opt<string>(b.image, 'string', 'image');
  if (!image) throw new BrigError('ERR_API_BODY', 'image is required');
  const r: PlanRequest = { image };
  const set = <K extends keyof PlanRequest>(k: K, v: PlanRequest[K] | undefined) => {
    if (v !== undefined) r[k] = v;
  };
  set('command', strings(b.command, 'command'));
  set('env', strings(b.env, 'env'));
  set('grants', strings(b.grants, 'grants'));
  set('entrypoint', opt(b.entrypoint, 'string', 'entrypoint'));
  set('workdir', opt(b.workdir, 'string', 'workdir'));
  set('user', opt(b.user, 'string', 'user'));
  set('hostname', opt(b.hostname, 'string', 'hostname'));
  set('name', opt(b.name, 'string', 'name'));
  set('tty', opt(b.tty, 'boolean', 'tty'));
  set('readOnly', opt(b.readOnly, 'boolean', 'readOnly'));
  set('memory', opt(b.memory, 'number', 'memory'));
  set('cpus', opt(b.cpus, 'number', 'cpus'));
  set('pidsLimit', opt(b.pidsLimit, 'number', 'pidsLimit'));
  return r;
}

function forkOf(runner: CommandRunner): CommandRunner {
  const f = (runner as { fork?: () => CommandRunner }).fork;
  return f ? f.call(runner) : runner;
}

export function register(r: Router, s: Services): void {
  r.post('/containers/plan', async (req) => {
    const body = await req.json<Record<string, unknown>>();
    if (!s.platform || !s.images || !s.snapshots)
      throw new BrigError('ERR_UNSUPPORTED_PLATFORM', 'plans need the platform, images and storage services');
    return planRun(
      {
        root: s.paths.root,
        db: s.db,
        platform: s.platform,
        images: s.images,
        snapshots: s.snapshots,
        ...(s.privileges ? { privileges: s.privileges } : {}),
        runtime: s.config.runtime,
        rulesets: s.config.policy.devfs.rulesets,
        platformFor: (runner) => platformOver(s.platformName, runner, s.platform),
        // FreeBSD: read-only queries (zfs get, sysctl -n, ...) are answered by the host itself, or
        // by a throwaway copy of the simulated host
        ...(s.platformName === 'freebsd'
          ? { ask: s.platform.runner }
          : s.platformName === 'freebsd-simulated'
            ? { ask: forkOf(s.platform.runner) }
            : {}),
      },
      parsePlanRequest(body ?? {}),
    );
  });
}
