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
import { createRequest } from './containers.ts';

/**
 * The plan's request from a create body, through createRequest: a plan refuses exactly what
 * create refuses (the hostname's length on the daemon's kernel, --memory and --cpus minimums,
 * field types), so a dry run that succeeds is not refused by the real run for its arguments.
 * `os`: the daemon's platform, as for create.
 */
export function parsePlanRequest(b: Record<string, unknown>, os?: 'linux' | 'freebsd'): PlanRequest {
  const c = createRequest(b, os);
  const r: PlanRequest = { image: c.image };
  const set = <K extends keyof PlanRequest>(k: K, v: PlanRequest[K] | undefined) => {
    if (v !== undefined) r[k] = v;
  };
  set('command', c.command);
  set('env', c.env);
  set('grants', c.grants);
  set('entrypoint', c.entrypoint);
  set('workdir', c.workdir);
  set('user', c.user);
  set('hostname', c.hostname);
  set('name', c.name);
  if (c.tty) r.tty = true;
  if (c.readOnly) r.readOnly = true;
  set('memory', c.memory);
  set('cpus', c.cpus);
  set('pidsLimit', c.pidsLimit);
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
      parsePlanRequest(body ?? {}, s.platform.os),
    );
  });
}
